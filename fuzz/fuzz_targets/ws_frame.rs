//! WebSocket frames (src/proto/ws/frame.rs, mask.rs) and message assembly
//! (assemble.rs): the input is a byte stream of frames, cut where each
//! header says, fed to the assemblers of both senders.
//!
//! Invariants: a parsed header used no more bytes than it was given and as
//! many as `needed` says; its spans lie within the header; re-encoding a
//! header in its own length form reproduces its bytes; masking is an
//! involution and piecewise masking equals masking the whole; an assembled
//! message holds at most `max_message` bytes and never more than it saw.
#![no_main]

use dispel::proto::ws::assemble::{Assembler, AssemblerConfig, AssemblyEvent, Sender};
use dispel::proto::ws::mask::apply_mask;
use dispel::proto::ws::FrameHeader;
use libfuzzer_sys::fuzz_target;

const MAX_MESSAGE: usize = 300;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, mut rest)) = data.split_first() else {
        return;
    };
    let mut asm = [Sender::Client, Sender::Server].map(|sender| {
        Assembler::new(AssemblerConfig {
            sender,
            deflate: ctl & 1 != 0,
            max_message: MAX_MESSAGE,
        })
    });
    while !rest.is_empty() {
        let needed = FrameHeader::needed(rest);
        let Some(h) = FrameHeader::parse(rest) else {
            assert!(needed > rest.len(), "parse refused a buffer that holds {needed} bytes");
            break;
        };
        assert_eq!(h.header_len, needed, "needed disagrees with the parsed header");
        assert!(h.header_len <= rest.len(), "header consumed past the input");
        assert!(h.ext_len_span.end <= h.header_len);
        if let Some(m) = &h.mask_span {
            assert_eq!(m.end, h.header_len);
            assert_eq!(m.len(), 4);
        }
        assert_eq!(h.mask.is_some(), h.masked);
        let mut enc = Vec::new();
        h.encode(&mut enc);
        assert_eq!(&enc[..], &rest[..h.header_len], "header does not round-trip");

        let avail = (rest.len() - h.header_len) as u64;
        let take = h.payload_len.min(avail) as usize;
        let payload = &rest[h.header_len..h.header_len + take];

        // Masking: an involution, and piecewise equals whole.
        let key = h.mask.unwrap_or([ctl, 0x5a, 0xa5, ctl ^ 0xff]);
        let mut whole = payload.to_vec();
        apply_mask(&mut whole, key, 0);
        let mut pieces = payload.to_vec();
        let cut = usize::from(ctl) % (pieces.len() + 1);
        let (a, b) = pieces.split_at_mut(cut);
        apply_mask(a, key, 0);
        apply_mask(b, key, cut);
        assert_eq!(whole, pieces, "piecewise masking differs");
        apply_mask(&mut whole, key, 0);
        assert_eq!(&whole[..], payload, "masking twice is not the identity");

        let unmasked = match h.mask {
            Some(k) => {
                let mut u = payload.to_vec();
                apply_mask(&mut u, k, 0);
                u
            }
            None => payload.to_vec(),
        };
        for a in asm.iter_mut() {
            for ev in a.push(&h, &unmasked) {
                match ev {
                    AssemblyEvent::Message(m) | AssemblyEvent::Abandoned(m) => {
                        assert!(m.payload.len() <= MAX_MESSAGE, "message over the cap");
                        assert!(m.payload.len() as u64 <= m.len);
                        assert_eq!(m.truncated, m.len > m.payload.len() as u64);
                    }
                    AssemblyEvent::Violation(v) => {
                        let _ = (v.message(), v.section());
                    }
                    _ => {}
                }
            }
            if let Some(m) = a.open_message() {
                assert!(m.payload.len() <= MAX_MESSAGE);
            }
        }
        rest = &rest[h.header_len + take..];
    }
    for a in asm.iter_mut() {
        if let Some(m) = a.finish() {
            assert!(m.payload.len() <= MAX_MESSAGE);
        }
    }
});
