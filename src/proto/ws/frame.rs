//! The frame header of RFC 6455's base framing protocol (§5.2).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! ```
//!
//! [`FrameHeader::parse`] reads a header without consuming anything and
//! answers `None` until enough bytes are there ([`FrameHeader::needed`] says
//! how many). It decodes everything the wire can say: reserved opcodes are
//! kept as data, and the §5.2 length rules (minimal encoding, 64-bit most
//! significant bit clear) are reported as flags, not refusals. The header
//! never allocates: `payload_len` is only a number, whatever its size.

use std::ops::Range;

/// The frame's opcode (RFC 6455 §5.2, §11.8). Reserved values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text (UTF-8) message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x3–0x7: reserved for further non-control frames.
    ReservedData(u8),
    /// 0x8: Close.
    Close,
    /// 0x9: Ping.
    Ping,
    /// 0xA: Pong.
    Pong,
    /// 0xB–0xF: reserved for further control frames.
    ReservedControl(u8),
}

impl OpCode {
    /// The opcode in the low four bits of `byte` (the upper bits are ignored).
    pub fn from_u8(byte: u8) -> OpCode {
        match byte & 0x0f {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xa => OpCode::Pong,
            v @ 0x3..=0x7 => OpCode::ReservedData(v),
            v => OpCode::ReservedControl(v),
        }
    }

    /// The 4-bit wire value.
    pub fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xa,
            OpCode::ReservedData(v) | OpCode::ReservedControl(v) => v & 0x0f,
        }
    }

    /// Control opcodes have the most significant bit set (§5.5).
    pub fn is_control(self) -> bool {
        self.as_u8() & 0x08 != 0
    }

    /// Whether the value is one RFC 6455 reserves (§5.2: "MUST NOT be used"
    /// unless an extension defines it).
    pub fn is_reserved(self) -> bool {
        matches!(self, OpCode::ReservedData(_) | OpCode::ReservedControl(_))
    }

    /// Wireshark's name for the opcode (`websocket.opcode`).
    pub fn name(self) -> &'static str {
        match self {
            OpCode::Continuation => "Continuation",
            OpCode::Text => "Text",
            OpCode::Binary => "Binary",
            OpCode::Close => "Connection Close",
            OpCode::Ping => "Ping",
            OpCode::Pong => "Pong",
            OpCode::ReservedData(_) | OpCode::ReservedControl(_) => "Reserved",
        }
    }
}

/// Which of the three payload-length encodings a header used (§5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LengthForm {
    /// 0–125 in the 7-bit field.
    Seven,
    /// 126 in the 7-bit field, then a 16-bit length.
    Sixteen,
    /// 127 in the 7-bit field, then a 64-bit length.
    SixtyFour,
}

impl LengthForm {
    /// Bytes of extended length after the second header byte.
    pub fn extra_bytes(self) -> usize {
        match self {
            LengthForm::Seven => 0,
            LengthForm::Sixteen => 2,
            LengthForm::SixtyFour => 8,
        }
    }

    /// The shortest form that can carry `len`, as §5.2 requires.
    pub fn minimal_for(len: u64) -> LengthForm {
        if len <= 125 {
            LengthForm::Seven
        } else if len <= 0xffff {
            LengthForm::Sixteen
        } else {
            LengthForm::SixtyFour
        }
    }

    /// Whether `len` can be written in this form.
    pub fn fits(self, len: u64) -> bool {
        match self {
            LengthForm::Seven => len <= 125,
            LengthForm::Sixteen => len <= 0xffff,
            LengthForm::SixtyFour => true,
        }
    }
}

/// A decoded frame header. Spans are relative to the slice given to
/// [`FrameHeader::parse`], whose first byte is the frame's first byte.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    /// FIN: this is the final fragment of a message.
    pub fin: bool,
    /// RSV1–RSV3 as a 3-bit value (RSV1 = 4, RSV2 = 2, RSV3 = 1).
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The MASK bit.
    pub masked: bool,
    /// The masking key, present exactly when `masked`.
    pub mask: Option<[u8; 4]>,
    /// The payload length as sent (not validated: may be up to 2^64 − 1).
    pub payload_len: u64,
    /// Which length encoding was used.
    pub length_form: LengthForm,
    /// Bytes from the frame start to the payload.
    pub header_len: usize,
    /// The extended payload length bytes (`0..0` for the 7-bit form).
    pub ext_len_span: Range<usize>,
    /// The masking key bytes.
    pub mask_span: Option<Range<usize>>,
    /// The length used a longer form than needed (§5.2: "the minimal number
    /// of bytes MUST be used to encode the length").
    pub length_not_minimal: bool,
    /// The 64-bit length has its most significant bit set (§5.2: "the most
    /// significant bit MUST be 0").
    pub length_msb_set: bool,
}

impl FrameHeader {
    /// Builds a header with the minimal length form and consistent derived
    /// fields (spans, header length, flags).
    pub fn new(
        fin: bool,
        rsv: u8,
        opcode: OpCode,
        mask: Option<[u8; 4]>,
        payload_len: u64,
    ) -> Self {
        Self::with_form(
            fin,
            rsv,
            opcode,
            mask,
            payload_len,
            LengthForm::minimal_for(payload_len),
        )
    }

    /// The same header re-encoded with a chosen length form (for building
    /// non-minimal test frames); `None` if the length does not fit the form.
    pub fn with_length_form(self, form: LengthForm) -> Option<Self> {
        form.fits(self.payload_len).then(|| {
            Self::with_form(
                self.fin,
                self.rsv,
                self.opcode,
                self.mask,
                self.payload_len,
                form,
            )
        })
    }

    fn with_form(
        fin: bool,
        rsv: u8,
        opcode: OpCode,
        mask: Option<[u8; 4]>,
        payload_len: u64,
        form: LengthForm,
    ) -> Self {
        let ext = form.extra_bytes();
        let mask_span = mask.map(|_| 2 + ext..6 + ext);
        FrameHeader {
            fin,
            rsv: rsv & 0x07,
            opcode,
            masked: mask.is_some(),
            mask,
            payload_len,
            length_form: form,
            header_len: 2 + ext + if mask.is_some() { 4 } else { 0 },
            ext_len_span: if ext == 0 { 0..0 } else { 2..2 + ext },
            mask_span,
            length_not_minimal: form != LengthForm::minimal_for(payload_len),
            length_msb_set: form == LengthForm::SixtyFour && payload_len >> 63 != 0,
        }
    }

    /// How many bytes the header needs, judging from what `buf` holds: 2
    /// until the second byte is there, then the full header length.
    pub fn needed(buf: &[u8]) -> usize {
        match buf.get(1) {
            None => 2,
            Some(&b1) => {
                let ext = match b1 & 0x7f {
                    126 => 2,
                    127 => 8,
                    _ => 0,
                };
                2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
            }
        }
    }

    /// Reads a header from the start of `buf`. `None` means more bytes are
    /// needed (see [`FrameHeader::needed`]); nothing is consumed either way.
    /// Every bit pattern decodes: rule breaks are flags on the result.
    pub fn parse(buf: &[u8]) -> Option<FrameHeader> {
        let [b0, b1] = *buf.first_chunk::<2>()?;
        let rest = buf.get(2..)?;
        let (form, payload_len) = match b1 & 0x7f {
            126 => (
                LengthForm::Sixteen,
                u64::from(u16::from_be_bytes(*rest.first_chunk::<2>()?)),
            ),
            127 => (
                LengthForm::SixtyFour,
                u64::from_be_bytes(*rest.first_chunk::<8>()?),
            ),
            n => (LengthForm::Seven, u64::from(n)),
        };
        let ext = form.extra_bytes();
        let masked = b1 & 0x80 != 0;
        let mask = if masked {
            Some(*rest.get(ext..)?.first_chunk::<4>()?)
        } else {
            None
        };
        Some(Self::with_form(
            b0 & 0x80 != 0,
            (b0 >> 4) & 0x07,
            OpCode::from_u8(b0),
            mask,
            payload_len,
            form,
        ))
    }

    /// RSV1 (permessage-deflate's "Per-Message Compressed" bit).
    pub fn rsv1(&self) -> bool {
        self.rsv & 0b100 != 0
    }

    /// RSV2.
    pub fn rsv2(&self) -> bool {
        self.rsv & 0b010 != 0
    }

    /// RSV3.
    pub fn rsv3(&self) -> bool {
        self.rsv & 0b001 != 0
    }

    /// Header plus payload length, if it fits in a u64.
    pub fn frame_len(&self) -> Option<u64> {
        (self.header_len as u64).checked_add(self.payload_len)
    }

    /// Appends the header's wire bytes. The fields are written as given: a
    /// `payload_len` too large for `length_form` is clipped to the form's
    /// range, so build headers with [`FrameHeader::new`] to keep them
    /// consistent.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let b0 = (u8::from(self.fin) << 7) | ((self.rsv & 0x07) << 4) | self.opcode.as_u8();
        let mask_bit = if self.masked { 0x80 } else { 0 };
        out.push(b0);
        match self.length_form {
            LengthForm::Seven => out.push(mask_bit | self.payload_len.min(125) as u8),
            LengthForm::Sixteen => {
                out.push(mask_bit | 126);
                let n = u16::try_from(self.payload_len).unwrap_or(u16::MAX);
                out.extend_from_slice(&n.to_be_bytes());
            }
            LengthForm::SixtyFour => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&self.payload_len.to_be_bytes());
            }
        }
        if let Some(key) = self.mask {
            out.extend_from_slice(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(bytes: &[u8]) -> FrameHeader {
        FrameHeader::parse(bytes).expect("complete header")
    }

    #[test]
    fn rfc6455_5_7_unmasked_text() {
        let wire = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        let h = parse(&wire);
        assert!(h.fin);
        assert_eq!((h.rsv, h.opcode, h.masked), (0, OpCode::Text, false));
        assert_eq!((h.payload_len, h.header_len), (5, 2));
        assert_eq!(h.length_form, LengthForm::Seven);
        assert_eq!(h.ext_len_span, 0..0);
        assert_eq!(h.mask_span, None);
        assert_eq!(&wire[h.header_len..], b"Hello");
    }

    #[test]
    fn rfc6455_5_7_masked_text() {
        let wire = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let h = parse(&wire);
        assert_eq!((h.opcode, h.masked, h.payload_len), (OpCode::Text, true, 5));
        assert_eq!(h.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
        assert_eq!(h.mask_span, Some(2..6));
        assert_eq!(h.header_len, 6);
    }

    #[test]
    fn rfc6455_5_7_fragments() {
        let first = parse(&[0x01, 0x03, 0x48, 0x65, 0x6c]);
        assert_eq!(
            (first.fin, first.opcode, first.payload_len),
            (false, OpCode::Text, 3)
        );
        let last = parse(&[0x80, 0x02, 0x6c, 0x6f]);
        assert_eq!(
            (last.fin, last.opcode, last.payload_len),
            (true, OpCode::Continuation, 2)
        );
    }

    #[test]
    fn rfc6455_5_7_ping_and_masked_pong() {
        let ping = parse(&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(
            (ping.opcode, ping.masked, ping.payload_len),
            (OpCode::Ping, false, 5)
        );
        assert!(ping.opcode.is_control());
        let pong = parse(&[
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ]);
        assert_eq!(
            (pong.opcode, pong.masked, pong.payload_len),
            (OpCode::Pong, true, 5)
        );
        assert_eq!(pong.opcode.name(), "Pong");
    }

    #[test]
    fn rfc6455_5_7_extended_lengths() {
        let h = parse(&[0x82, 0x7e, 0x01, 0x00]);
        assert_eq!(
            (h.opcode, h.payload_len, h.header_len),
            (OpCode::Binary, 256, 4)
        );
        assert_eq!(
            (h.length_form, h.ext_len_span.clone()),
            (LengthForm::Sixteen, 2..4)
        );
        assert!(!h.length_not_minimal);
        let h = parse(&[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!((h.payload_len, h.header_len), (65536, 10));
        assert_eq!(
            (h.length_form, h.ext_len_span),
            (LengthForm::SixtyFour, 2..10)
        );
        assert!(!h.length_not_minimal && !h.length_msb_set);
    }

    #[test]
    fn needs_more_bytes() {
        assert_eq!(FrameHeader::parse(&[]), None);
        assert_eq!(FrameHeader::needed(&[]), 2);
        assert_eq!(FrameHeader::parse(&[0x82]), None);
        assert_eq!(FrameHeader::parse(&[0x82, 0x7e, 0x01]), None);
        assert_eq!(FrameHeader::needed(&[0x82, 0x7e]), 4);
        assert_eq!(FrameHeader::needed(&[0x82, 0xff]), 14);
        assert_eq!(FrameHeader::parse(&[0x81, 0x85, 0x37, 0xfa, 0x21]), None);
    }

    #[test]
    fn rule_breaks_are_flags() {
        // Synthetic: 5 bytes sent in the 16-bit form.
        let h = parse(&[0x82, 0x7e, 0x00, 0x05]);
        assert!(h.length_not_minimal);
        // Synthetic: 64-bit length 2^63 — decoded, flagged, not allocated.
        let h = parse(&[0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(h.payload_len, 1 << 63);
        assert!(h.length_msb_set);
        // Synthetic: reserved opcodes and RSV bits are kept as data.
        let h = parse(&[0x73, 0x00]);
        assert_eq!(
            (h.rsv, h.opcode, h.fin),
            (0b111, OpCode::ReservedData(3), false)
        );
        assert!(h.rsv1() && h.rsv2() && h.rsv3());
        let h = parse(&[0x8f, 0x00]);
        assert_eq!(h.opcode, OpCode::ReservedControl(0xf));
        assert!(h.opcode.is_control() && h.opcode.is_reserved());
        assert_eq!(h.opcode.name(), "Reserved");
    }

    #[test]
    fn opcode_table() {
        let names: Vec<&str> = (0..16u8).map(|v| OpCode::from_u8(v).name()).collect();
        assert_eq!(names[0..3], ["Continuation", "Text", "Binary"]);
        assert_eq!(names[8..11], ["Connection Close", "Ping", "Pong"]);
        for v in 0..16u8 {
            assert_eq!(OpCode::from_u8(v).as_u8(), v);
            assert_eq!(OpCode::from_u8(v).is_control(), v >= 8);
        }
    }

    #[test]
    fn encode_matches_rfc_bytes() {
        let mut out = Vec::new();
        FrameHeader::new(true, 0, OpCode::Text, Some([0x37, 0xfa, 0x21, 0x3d]), 5).encode(&mut out);
        assert_eq!(out, [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d]);
        out.clear();
        FrameHeader::new(true, 0, OpCode::Binary, None, 65536).encode(&mut out);
        assert_eq!(out, [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    fn arb_header() -> impl Strategy<Value = FrameHeader> {
        (
            any::<bool>(),
            0u8..8,
            0u8..16,
            proptest::option::of(any::<[u8; 4]>()),
            prop_oneof![0u64..=125, 126u64..=0xffff, any::<u64>()],
            0usize..3,
        )
            .prop_map(|(fin, rsv, op, mask, len, form)| {
                let h = FrameHeader::new(fin, rsv, OpCode::from_u8(op), mask, len);
                let form = [
                    LengthForm::Seven,
                    LengthForm::Sixteen,
                    LengthForm::SixtyFour,
                ][form];
                h.clone().with_length_form(form).unwrap_or(h)
            })
    }

    proptest! {
        #[test]
        fn encode_parse_round_trip(h in arb_header()) {
            let mut wire = Vec::new();
            h.encode(&mut wire);
            prop_assert_eq!(wire.len(), h.header_len);
            prop_assert_eq!(FrameHeader::needed(&wire), h.header_len);
            prop_assert_eq!(FrameHeader::parse(&wire), Some(h));
        }

        #[test]
        fn prefixes_are_none_until_complete(h in arb_header(), tail in proptest::collection::vec(any::<u8>(), 0..8)) {
            let mut wire = Vec::new();
            h.encode(&mut wire);
            let n = wire.len();
            wire.extend(tail);
            for cut in 0..n {
                prop_assert_eq!(FrameHeader::parse(&wire[..cut]), None);
                prop_assert!(FrameHeader::needed(&wire[..cut]) > cut);
            }
            for cut in n..=wire.len() {
                prop_assert_eq!(FrameHeader::parse(&wire[..cut]), Some(h.clone()));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            if let Some(h) = FrameHeader::parse(&bytes) {
                prop_assert!(h.header_len <= bytes.len());
                prop_assert_eq!(h.header_len, FrameHeader::needed(&bytes));
                let mut again = Vec::new();
                h.encode(&mut again);
                prop_assert_eq!(&again[..], &bytes[..h.header_len]);
            }
        }
    }
}
