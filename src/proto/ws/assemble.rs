//! From frames to messages (RFC 6455 §5.4 fragmentation, §5.5 control
//! frames), checking every framing rule on the way.
//!
//! A message is one Text or Binary frame, followed, while FIN is 0, by
//! Continuation frames up to one with FIN set. Control frames may arrive
//! between the fragments (§5.4) and are never part of a message. With
//! permessage-deflate, RSV1 on a message's first frame marks the whole
//! message compressed (RFC 7692 §6).
//!
//! The [`Assembler`] is an observer, not a peer: where a peer would fail the
//! connection it reports a [`Violation`] and carries on as sensibly as it
//! can (a stray continuation is dropped, a new message while one is open
//! abandons the old one and starts the new). It holds at most
//! `max_message` bytes per message; beyond that it keeps counting but stops
//! storing, and marks the message truncated.
//!
//! Payloads are given already unmasked; compressed payloads are joined as
//! they are (inflate them with [`super::deflate::Inflater`]).

use super::frame::{FrameHeader, LengthForm, OpCode};
use crate::rules::{self, Rule};

/// Which endpoint sent the frames an assembler sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sender {
    /// Client to server: frames MUST be masked (§5.1).
    Client,
    /// Server to client: frames MUST NOT be masked (§5.1).
    Server,
}

/// What an assembler needs to know about its direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssemblerConfig {
    /// Who sends these frames.
    pub sender: Sender,
    /// permessage-deflate was negotiated (RSV1 then has a meaning).
    pub deflate: bool,
    /// Most payload bytes stored per message; more are counted, not kept.
    pub max_message: usize,
}

impl AssemblerConfig {
    /// Defaults: no extension, 64 MiB per message.
    pub fn new(sender: Sender) -> Self {
        AssemblerConfig {
            sender,
            deflate: false,
            max_message: 64 * 1024 * 1024,
        }
    }
}

/// A framing rule broken by one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// A client frame without a mask.
    MaskMissing,
    /// A server frame with a mask.
    MaskUnexpected,
    /// A length encoded in a longer form than needed.
    LengthNotMinimal {
        /// The length.
        len: u64,
        /// The form used.
        form: LengthForm,
    },
    /// A 64-bit length with its most significant bit set.
    LengthMsbSet,
    /// An opcode RFC 6455 reserves.
    ReservedOpcode {
        /// The 4-bit value.
        value: u8,
    },
    /// RSV bits set that no negotiated extension defines.
    RsvWithoutExtension {
        /// The offending bits (RSV1 = 4, RSV2 = 2, RSV3 = 1).
        rsv: u8,
    },
    /// RSV1 on a continuation frame (permessage-deflate sets it on the
    /// first frame only).
    Rsv1OnContinuation,
    /// RSV1 on a control frame (control frames are never compressed).
    Rsv1OnControl,
    /// A control frame payload over 125 bytes.
    ControlTooLong {
        /// The payload length.
        len: u64,
    },
    /// A control frame with FIN = 0.
    ControlFragmented,
    /// A continuation frame with no message open.
    ContinuationWithoutStart,
    /// A new Text or Binary frame while a fragmented message is open.
    DataDuringFragmentedMessage {
        /// The open message's opcode.
        open: OpCode,
        /// The new frame's opcode.
        new: OpCode,
    },
    /// A frame after this side's Close frame.
    FrameAfterClose {
        /// The frame's opcode.
        opcode: OpCode,
    },
    /// A Text message (after reassembly and any inflation) that is not
    /// UTF-8.
    TextNotUtf8 {
        /// Length of the valid UTF-8 prefix.
        valid_up_to: usize,
    },
}

impl Violation {
    /// The finding rule this violation breaks: the one place an assembly
    /// violation meets the rule registry ([`crate::rules`]).
    pub fn rule(&self) -> &'static Rule {
        match self {
            Violation::MaskMissing => &rules::FRAME_CLIENT_UNMASKED,
            Violation::MaskUnexpected => &rules::FRAME_SERVER_MASKED,
            Violation::LengthNotMinimal { .. } => &rules::FRAME_LENGTH_NOT_MINIMAL,
            Violation::LengthMsbSet => &rules::FRAME_LENGTH_MSB_SET,
            Violation::ReservedOpcode { .. } => &rules::FRAME_RESERVED_OPCODE,
            Violation::RsvWithoutExtension { .. } | Violation::Rsv1OnControl => {
                &rules::FRAME_RSV_WITHOUT_EXTENSION
            }
            Violation::Rsv1OnContinuation => &rules::DEFLATE_RSV1_ON_CONTINUATION,
            Violation::ControlTooLong { .. } => &rules::FRAME_CONTROL_TOO_LONG,
            Violation::ControlFragmented => &rules::FRAME_CONTROL_FRAGMENTED,
            Violation::ContinuationWithoutStart => &rules::FRAME_CONTINUATION_WITHOUT_START,
            Violation::DataDuringFragmentedMessage { .. } => &rules::FRAME_DATA_DURING_FRAGMENTED,
            Violation::FrameAfterClose { .. } => &rules::FRAME_AFTER_CLOSE,
            Violation::TextNotUtf8 { .. } => &rules::FRAME_TEXT_INVALID_UTF8,
        }
    }

    /// One sentence that teaches the rule and what was seen.
    pub fn message(&self) -> String {
        match self {
            Violation::MaskMissing => "a client MUST mask every frame it sends to the server, but this frame has MASK = 0".into(),
            Violation::MaskUnexpected => "a server MUST NOT mask frames it sends to the client, but this frame has MASK = 1".into(),
            Violation::LengthNotMinimal { len, form } => {
                let used = match form {
                    LengthForm::Seven => "7-bit",
                    LengthForm::Sixteen => "16-bit",
                    LengthForm::SixtyFour => "64-bit",
                };
                format!("the payload length MUST use the minimal encoding; {len} was sent in the {used} form")
            }
            Violation::LengthMsbSet => "in the 64-bit length form the most significant bit MUST be 0, but it is 1".into(),
            Violation::ReservedOpcode { value } => format!("opcode 0x{value:X} is reserved and MUST NOT be used without an extension defining it"),
            Violation::RsvWithoutExtension { rsv } => format!("RSV bits MUST be 0 unless a negotiated extension defines them; this frame sets {}", rsv_names(*rsv)),
            Violation::Rsv1OnContinuation => "with permessage-deflate, RSV1 marks a compressed message on its first frame only; this continuation frame sets it".into(),
            Violation::Rsv1OnControl => "control frames are never compressed, so they MUST NOT set RSV1".into(),
            Violation::ControlTooLong { len } => format!("a control frame's payload MUST be 125 bytes or fewer; this one has {len}"),
            Violation::ControlFragmented => "control frames MUST NOT be fragmented, so FIN must be 1, but it is 0".into(),
            Violation::ContinuationWithoutStart => "a continuation frame must follow a Text or Binary frame with FIN = 0, but no message is open; its payload is dropped".into(),
            Violation::DataDuringFragmentedMessage { open, new } => format!("a {} frame arrived while a fragmented {} message was still open; fragments of different messages MUST NOT interleave, so the open message is abandoned", new.name(), open.name()),
            Violation::FrameAfterClose { opcode } => format!("after sending a Close frame an endpoint MUST NOT send more data frames, but a {} frame followed", opcode.name()),
            Violation::TextNotUtf8 { valid_up_to } => format!("a Text message MUST be UTF-8 once reassembled (and inflated), but the bytes after the first {valid_up_to} are not"),
        }
    }
}

fn rsv_names(rsv: u8) -> String {
    let names: Vec<&str> = [(4, "RSV1"), (2, "RSV2"), (1, "RSV3")]
        .iter()
        .filter(|(bit, _)| rsv & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    names.join(" and ")
}

/// Checks a Text message's data for UTF-8 (§8.1). A message cut short by
/// a cap may end inside a character; that is not counted as a fault.
/// Compressed messages are checked by the caller after inflating.
pub fn text_problem(data: &[u8], truncated: bool) -> Option<Violation> {
    match std::str::from_utf8(data) {
        Ok(_) => None,
        Err(e) if truncated && e.error_len().is_none() => None,
        Err(e) => Some(Violation::TextNotUtf8 {
            valid_up_to: e.valid_up_to(),
        }),
    }
}

/// A message put together from its frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Text or Binary (from the first frame).
    pub opcode: OpCode,
    /// RSV1 was set on the first frame with permessage-deflate negotiated.
    pub compressed: bool,
    /// The joined payloads, at most `max_message` bytes.
    pub payload: Vec<u8>,
    /// Frames that made up the message.
    pub frames: usize,
    /// Payload bytes seen, including any not stored.
    pub len: u64,
    /// More than `max_message` bytes arrived; `payload` holds the first ones.
    pub truncated: bool,
}

/// What one frame's assembly gives: almost always one or two events, kept
/// inline (a vector per frame was an allocation per WebSocket frame).
pub type Events = smallvec::SmallVec<[AssemblyEvent; 2]>;

/// What one frame did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssemblyEvent {
    /// A rule this frame broke.
    Violation(Violation),
    /// A frame outside message assembly: a control frame, or one with a
    /// reserved opcode whose meaning is unknown.
    Passthrough {
        /// The frame's opcode.
        opcode: OpCode,
    },
    /// The first frame of a fragmented message (FIN = 0).
    Started {
        /// Text or Binary.
        opcode: OpCode,
        /// RSV1 with permessage-deflate.
        compressed: bool,
    },
    /// A non-final continuation frame was added.
    Continued {
        /// Frames so far.
        frames: usize,
        /// Payload bytes so far.
        len: u64,
    },
    /// A message is complete.
    Message(Message),
    /// An open message was given up because a new one started.
    Abandoned(Message),
}

/// Reassembles the messages of one direction.
#[derive(Debug, Clone)]
pub struct Assembler {
    config: AssemblerConfig,
    open: Option<Message>,
    closed: bool,
}

impl Assembler {
    /// An assembler with no message open.
    pub fn new(config: AssemblerConfig) -> Self {
        Assembler {
            config,
            open: None,
            closed: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AssemblerConfig {
        &self.config
    }

    /// The message being assembled, if a fragmented one is open.
    pub fn open_message(&self) -> Option<&Message> {
        self.open.as_ref()
    }

    /// Whether this side has sent a Close frame.
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Ends the stream: returns a message left incomplete, if any.
    pub fn finish(&mut self) -> Option<Message> {
        self.open.take()
    }

    /// Takes one frame (header and unmasked payload) and reports what it
    /// did, violations first. `payload` may be shorter than
    /// `h.payload_len` when the capture ends early; the bytes given are
    /// what is stored and counted.
    pub fn push(&mut self, h: &FrameHeader, payload: &[u8]) -> Events {
        let mut ev = Events::new();
        let mut violate = |v: Violation| ev.push(AssemblyEvent::Violation(v));
        if self.closed && !h.opcode.is_control() {
            // §5.5.1: "The application MUST NOT send any more data frames
            // after sending a Close frame." Control frames (a second Close,
            // a Ping) are not data frames: odd, but not forbidden.
            violate(Violation::FrameAfterClose { opcode: h.opcode });
        }
        // §5.1: "a client MUST mask all frames that it sends to the server";
        // "A server MUST NOT mask any frames that it sends to the client."
        match (self.config.sender, h.masked) {
            (Sender::Client, false) => violate(Violation::MaskMissing),
            (Sender::Server, true) => violate(Violation::MaskUnexpected),
            _ => {}
        }
        // §5.2: "the minimal number of bytes MUST be used to encode the
        // length"; "the most significant bit MUST be 0".
        if h.length_not_minimal {
            violate(Violation::LengthNotMinimal {
                len: h.payload_len,
                form: h.length_form,
            });
        }
        if h.length_msb_set {
            violate(Violation::LengthMsbSet);
        }
        // §5.2: RSV1–3 "MUST be 0 unless an extension is negotiated that
        // defines meanings for non-zero values". permessage-deflate defines
        // RSV1 on a data message's first frame only (RFC 7692 §6).
        let mut rsv = h.rsv;
        if self.config.deflate && h.rsv1() {
            match h.opcode {
                OpCode::Text | OpCode::Binary => rsv &= !0b100,
                OpCode::Continuation => {
                    violate(Violation::Rsv1OnContinuation);
                    rsv &= !0b100;
                }
                OpCode::Close | OpCode::Ping | OpCode::Pong => {
                    violate(Violation::Rsv1OnControl);
                    rsv &= !0b100;
                }
                OpCode::ReservedData(_) | OpCode::ReservedControl(_) => {}
            }
        }
        if rsv != 0 {
            violate(Violation::RsvWithoutExtension { rsv });
        }
        if h.opcode.is_reserved() {
            // §5.2: reserved opcodes; the frame's meaning is unknown, so it
            // stays out of message assembly.
            violate(Violation::ReservedOpcode {
                value: h.opcode.as_u8(),
            });
        }
        if h.opcode.is_control() {
            // §5.5: "All control frames MUST have a payload length of 125
            // bytes or less and MUST NOT be fragmented."
            if h.payload_len > 125 {
                violate(Violation::ControlTooLong { len: h.payload_len });
            }
            if !h.fin {
                violate(Violation::ControlFragmented);
            }
        }
        match h.opcode {
            OpCode::Text | OpCode::Binary => {
                if let Some(open) = self.open.take() {
                    // §5.4: fragments of one message MUST NOT be interleaved
                    // with those of another.
                    ev.push(AssemblyEvent::Violation(
                        Violation::DataDuringFragmentedMessage {
                            open: open.opcode,
                            new: h.opcode,
                        },
                    ));
                    ev.push(AssemblyEvent::Abandoned(open));
                }
                let mut msg = Message {
                    opcode: h.opcode,
                    compressed: self.config.deflate && h.rsv1(),
                    // Sized for the first frame, which is usually the
                    // whole message: one exact allocation.
                    payload: Vec::with_capacity(payload.len().min(self.config.max_message)),
                    frames: 0,
                    len: 0,
                    truncated: false,
                };
                self.append(&mut msg, payload);
                if h.fin {
                    complete(&mut ev, msg);
                } else {
                    ev.push(AssemblyEvent::Started {
                        opcode: msg.opcode,
                        compressed: msg.compressed,
                    });
                    self.open = Some(msg);
                }
            }
            OpCode::Continuation => match self.open.take() {
                None => ev.push(AssemblyEvent::Violation(
                    Violation::ContinuationWithoutStart,
                )),
                Some(mut msg) => {
                    self.append(&mut msg, payload);
                    if h.fin {
                        complete(&mut ev, msg);
                    } else {
                        ev.push(AssemblyEvent::Continued {
                            frames: msg.frames,
                            len: msg.len,
                        });
                        self.open = Some(msg);
                    }
                }
            },
            OpCode::Close => {
                self.closed = true;
                ev.push(AssemblyEvent::Passthrough { opcode: h.opcode });
            }
            OpCode::Ping | OpCode::Pong | OpCode::ReservedData(_) | OpCode::ReservedControl(_) => {
                ev.push(AssemblyEvent::Passthrough { opcode: h.opcode })
            }
        }
        ev
    }

    fn append(&self, msg: &mut Message, payload: &[u8]) {
        // Only the bytes given are stored: a capture may end mid-payload.
        let room = self.config.max_message.saturating_sub(msg.payload.len());
        let keep = payload.get(..room).unwrap_or(payload);
        msg.payload.extend_from_slice(keep);
        msg.truncated |= keep.len() < payload.len();
        msg.frames += 1;
        msg.len = msg.len.saturating_add(payload.len() as u64);
    }
}

/// Emits a completed message, preceded by its UTF-8 finding if it is
/// uncompressed text (§8.1: "MUST _Fail the WebSocket Connection_" on
/// invalid UTF-8).
fn complete(ev: &mut Events, msg: Message) {
    if msg.opcode == OpCode::Text
        && !msg.compressed
        && let Some(v) = text_problem(&msg.payload, msg.truncated)
    {
        ev.push(AssemblyEvent::Violation(v));
    }
    ev.push(AssemblyEvent::Message(msg));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::ws::mask::apply_mask;
    use proptest::prelude::*;

    /// Splits a wire frame into header and unmasked payload.
    fn frame(wire: &[u8]) -> (FrameHeader, Vec<u8>) {
        let h = FrameHeader::parse(wire).unwrap();
        let mut p = wire[h.header_len..].to_vec();
        if let Some(k) = h.mask {
            apply_mask(&mut p, k, 0);
        }
        (h, p)
    }

    fn push(a: &mut Assembler, wire: &[u8]) -> Vec<AssemblyEvent> {
        let (h, p) = frame(wire);
        a.push(&h, &p).into_vec()
    }

    fn server() -> Assembler {
        Assembler::new(AssemblerConfig::new(Sender::Server))
    }

    fn violations(ev: &[AssemblyEvent]) -> Vec<Violation> {
        ev.iter()
            .filter_map(|e| match e {
                AssemblyEvent::Violation(v) => Some(v.clone()),
                _ => None,
            })
            .collect()
    }

    fn message(ev: &[AssemblyEvent]) -> Option<&Message> {
        ev.iter().find_map(|e| match e {
            AssemblyEvent::Message(m) => Some(m),
            _ => None,
        })
    }

    #[test]
    fn rfc6455_5_7_single_frames() {
        let ev = push(&mut server(), &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        let m = message(&ev).unwrap();
        assert_eq!(
            (m.opcode, m.payload.as_slice(), m.frames),
            (OpCode::Text, &b"Hello"[..], 1)
        );
        assert!(violations(&ev).is_empty());
        let mut client = Assembler::new(AssemblerConfig::new(Sender::Client));
        let ev = push(
            &mut client,
            &[
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
            ],
        );
        assert_eq!(message(&ev).unwrap().payload, b"Hello");
        assert!(violations(&ev).is_empty());
    }

    #[test]
    fn rfc6455_5_7_fragments_with_interleaved_ping() {
        let mut a = server();
        let ev = push(&mut a, &[0x01, 0x03, 0x48, 0x65, 0x6c]);
        assert_eq!(
            ev,
            vec![AssemblyEvent::Started {
                opcode: OpCode::Text,
                compressed: false
            }]
        );
        // §5.4: control frames MAY be injected in the middle of a message.
        let ev = push(&mut a, &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(
            ev,
            vec![AssemblyEvent::Passthrough {
                opcode: OpCode::Ping
            }]
        );
        let ev = push(&mut a, &[0x80, 0x02, 0x6c, 0x6f]);
        let m = message(&ev).unwrap();
        assert_eq!(
            (m.payload.as_slice(), m.frames, m.len),
            (&b"Hello"[..], 2, 5)
        );
        assert!(a.open_message().is_none());
    }

    #[test]
    fn rfc6455_5_7_large_binary() {
        let mut wire = vec![0x82, 0x7e, 0x01, 0x00];
        wire.extend(vec![0xab; 256]);
        let m = message(&push(&mut server(), &wire)).unwrap().clone();
        assert_eq!((m.opcode, m.payload.len()), (OpCode::Binary, 256));
        let mut wire = vec![0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0];
        wire.extend(vec![0xcd; 65536]);
        let m = message(&push(&mut server(), &wire)).unwrap().clone();
        assert_eq!(m.payload.len(), 65536);
    }

    #[test]
    fn masking_direction() {
        let ev = push(
            &mut server(),
            &[
                0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
            ],
        );
        assert_eq!(violations(&ev), vec![Violation::MaskUnexpected]);
        let mut client = Assembler::new(AssemblerConfig::new(Sender::Client));
        let ev = push(&mut client, &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(violations(&ev), vec![Violation::MaskMissing]);
    }

    #[test]
    fn length_rules() {
        // Synthetic: "Hi" in the 16-bit form.
        let ev = push(&mut server(), &[0x82, 0x7e, 0x00, 0x02, b'H', b'i']);
        assert_eq!(
            violations(&ev),
            vec![Violation::LengthNotMinimal {
                len: 2,
                form: LengthForm::Sixteen
            }]
        );
        // Synthetic: 64-bit length with the top bit set, payload not present.
        let h = FrameHeader::parse(&[0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1]).unwrap();
        let ev = server().push(&h, &[]);
        assert_eq!(violations(&ev), vec![Violation::LengthMsbSet]);
    }

    #[test]
    fn control_frame_rules() {
        // Synthetic: a 126-byte ping, unfragmented.
        let mut wire = vec![0x89, 0x7e, 0x00, 0x7e];
        wire.extend([0u8; 126]);
        assert_eq!(
            violations(&push(&mut server(), &wire)),
            vec![Violation::ControlTooLong { len: 126 }]
        );
        // Synthetic: a ping with FIN = 0.
        assert_eq!(
            violations(&push(&mut server(), &[0x09, 0x00])),
            vec![Violation::ControlFragmented]
        );
    }

    #[test]
    fn reserved_opcodes_pass_through() {
        let mut a = server();
        let ev = push(&mut a, &[0x83, 0x00]);
        assert_eq!(
            ev,
            vec![
                AssemblyEvent::Violation(Violation::ReservedOpcode { value: 3 }),
                AssemblyEvent::Passthrough {
                    opcode: OpCode::ReservedData(3)
                }
            ]
        );
        let ev = push(&mut a, &[0x8b, 0x00]);
        assert_eq!(
            violations(&ev),
            vec![Violation::ReservedOpcode { value: 0xb }]
        );
    }

    #[test]
    fn rsv_rules() {
        // No extension: any RSV bit is a violation.
        let ev = push(&mut server(), &[0xc1, 0x01, b'x']);
        assert_eq!(
            violations(&ev),
            vec![Violation::RsvWithoutExtension { rsv: 4 }]
        );
        assert!(violations(&ev)[0].message().contains("RSV1"));
        let ev = push(&mut server(), &[0xb1, 0x01, b'x']);
        assert_eq!(
            violations(&ev),
            vec![Violation::RsvWithoutExtension { rsv: 3 }]
        );
        // permessage-deflate: RSV1 on the first frame marks compression.
        let cfg = AssemblerConfig {
            deflate: true,
            ..AssemblerConfig::new(Sender::Server)
        };
        let mut a = Assembler::new(cfg);
        // RFC 7692 §7.2.3.1: compressed "Hello" in two fragments.
        let ev = push(&mut a, &[0x41, 0x03, 0xf2, 0x48, 0xcd]);
        assert!(violations(&ev).is_empty());
        let ev = push(&mut a, &[0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00]);
        let m = message(&ev).unwrap();
        assert!(m.compressed);
        assert_eq!(m.payload, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        // Synthetic: RSV1 on a continuation and on a control frame.
        push(&mut a, &[0x41, 0x01, 0xf2]);
        let ev = push(&mut a, &[0xc0, 0x01, 0x00]);
        assert_eq!(violations(&ev), vec![Violation::Rsv1OnContinuation]);
        let ev = push(&mut a, &[0xc9, 0x00]);
        assert_eq!(violations(&ev), vec![Violation::Rsv1OnControl]);
    }

    #[test]
    fn fragmentation_errors() {
        let mut a = server();
        let ev = push(&mut a, &[0x80, 0x02, b'l', b'o']);
        assert_eq!(
            ev,
            vec![AssemblyEvent::Violation(
                Violation::ContinuationWithoutStart
            )]
        );
        push(&mut a, &[0x01, 0x03, b'H', b'e', b'l']);
        let ev = push(&mut a, &[0x82, 0x01, 0x07]);
        assert_eq!(
            violations(&ev),
            vec![Violation::DataDuringFragmentedMessage {
                open: OpCode::Text,
                new: OpCode::Binary
            }]
        );
        assert!(matches!(&ev[1], AssemblyEvent::Abandoned(m) if m.payload == b"Hel"));
        assert_eq!(message(&ev).unwrap().payload, [0x07]);
        // An unfinished message at the end of the stream.
        push(&mut a, &[0x01, 0x01, b'x']);
        let ev = push(&mut a, &[0x00, 0x01, b'y']);
        assert_eq!(ev, vec![AssemblyEvent::Continued { frames: 2, len: 2 }]);
        assert_eq!(a.finish().unwrap().payload, b"xy");
    }

    #[test]
    fn frames_after_close() {
        let mut a = server();
        let ev = push(&mut a, &[0x88, 0x02, 0x03, 0xe8]);
        assert!(violations(&ev).is_empty());
        assert!(a.closed());
        // Synthetic: a second Close and a Ping are control frames, not data.
        assert!(violations(&push(&mut a, &[0x88, 0x00])).is_empty());
        assert!(violations(&push(&mut a, &[0x89, 0x00])).is_empty());
        let ev = push(&mut a, &[0x81, 0x01, b'x']);
        assert_eq!(
            violations(&ev),
            vec![Violation::FrameAfterClose {
                opcode: OpCode::Text
            }]
        );
    }

    #[test]
    fn text_must_be_utf8() {
        // Synthetic: "é" split across two fragments is fine once joined.
        let mut a = server();
        push(&mut a, &[0x01, 0x01, 0xc3]);
        let ev = push(&mut a, &[0x80, 0x01, 0xa9]);
        assert!(violations(&ev).is_empty());
        assert_eq!(message(&ev).unwrap().payload, "é".as_bytes());
        // Synthetic: a lone continuation byte.
        let ev = push(&mut a, &[0x81, 0x02, b'a', 0xa9]);
        assert_eq!(
            violations(&ev),
            vec![Violation::TextNotUtf8 { valid_up_to: 1 }]
        );
        // Binary is not checked; a cap that cuts a character is not a fault.
        assert!(violations(&push(&mut a, &[0x82, 0x01, 0xff])).is_empty());
        assert_eq!(text_problem("é".as_bytes().get(..1).unwrap(), true), None);
        assert!(text_problem(&[0xc3], false).is_some());
    }

    #[test]
    fn message_cap_truncates() {
        let mut a = Assembler::new(AssemblerConfig {
            max_message: 4,
            ..AssemblerConfig::new(Sender::Server)
        });
        push(&mut a, &[0x02, 0x03, 1, 2, 3]);
        let ev = push(&mut a, &[0x80, 0x03, 4, 5, 6]);
        let m = message(&ev).unwrap();
        assert_eq!(
            (m.payload.as_slice(), m.len, m.truncated),
            (&[1, 2, 3, 4][..], 6, true)
        );
    }

    #[test]
    fn every_violation_teaches() {
        let all = [
            Violation::MaskMissing,
            Violation::MaskUnexpected,
            Violation::LengthNotMinimal {
                len: 1,
                form: LengthForm::SixtyFour,
            },
            Violation::LengthMsbSet,
            Violation::ReservedOpcode { value: 3 },
            Violation::RsvWithoutExtension { rsv: 7 },
            Violation::Rsv1OnContinuation,
            Violation::Rsv1OnControl,
            Violation::ControlTooLong { len: 200 },
            Violation::ControlFragmented,
            Violation::ContinuationWithoutStart,
            Violation::DataDuringFragmentedMessage {
                open: OpCode::Text,
                new: OpCode::Text,
            },
            Violation::FrameAfterClose {
                opcode: OpCode::Binary,
            },
            Violation::TextNotUtf8 { valid_up_to: 0 },
        ];
        for v in all {
            assert!(v.message().len() > 30, "{v:?}");
            // Every assembly rule is a MUST of RFC 6455 or RFC 7692.
            assert_eq!(v.rule().severity, crate::rules::Severity::Must, "{v:?}");
            assert!(crate::rules::ALL.contains(&v.rule()));
        }
        assert!(
            Violation::RsvWithoutExtension { rsv: 7 }
                .message()
                .contains("RSV1 and RSV2 and RSV3")
        );
    }

    proptest! {
        /// Whatever the frame sequence, assembly never panics, stays within
        /// the cap, and a message's frame count matches what was pushed.
        #[test]
        fn arbitrary_frames(frames in proptest::collection::vec((any::<u8>(), any::<u8>(), proptest::collection::vec(any::<u8>(), 0..20)), 0..20), deflate in any::<bool>()) {
            let mut a = Assembler::new(AssemblerConfig { deflate, max_message: 16, ..AssemblerConfig::new(Sender::Client) });
            for (b0, b1, payload) in frames {
                let h = FrameHeader::parse(&[b0, b1 & 0x7f, 0, 0, 0, 0, 0, 0, 0, 0]).unwrap();
                for e in a.push(&h, &payload) {
                    if let AssemblyEvent::Message(m) | AssemblyEvent::Abandoned(m) = e {
                        prop_assert!(m.payload.len() <= 16);
                        prop_assert!(m.frames >= 1);
                        prop_assert_eq!(m.truncated, m.len > 16);
                    }
                }
            }
        }
    }
}
