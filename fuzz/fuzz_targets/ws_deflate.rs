//! permessage-deflate (src/proto/ws/deflate.rs): the input is a sequence of
//! compressed messages (2-byte big-endian length, bytes) inflated by one
//! direction's inflater, with and without context takeover.
//!
//! Invariants: no message inflates past its cap (a deflate bomb stops at
//! the cap whatever the input claims); an error's partial output is capped
//! too; once a shared window is lost, every later message says so.
#![no_main]

use dispel::proto::ws::Inflater;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, mut rest)) = data.split_first() else {
        return;
    };
    let no_context_takeover = ctl & 1 != 0;
    let cap = 1 + usize::from(ctl >> 1) * 64; // 1 ..= 8129 bytes
    let mut inf = Inflater::new(no_context_takeover);
    let mut lost = false;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let msg = &rest[2..(2 + len).min(rest.len())];
        rest = &rest[2 + msg.len()..];
        match inf.inflate_message(msg, cap) {
            Ok(m) => {
                assert!(m.data.len() <= cap, "inflated {} > cap {cap}", m.data.len());
                if lost && !no_context_takeover {
                    assert!(m.context_lost, "a lost window was forgotten");
                }
                if m.truncated {
                    assert_eq!(m.data.len(), cap, "truncated before the cap");
                    lost |= !no_context_takeover;
                }
            }
            Err(e) => {
                assert!(e.partial.len() <= cap, "partial output past the cap");
                let _ = e.to_string();
                lost |= !no_context_takeover;
            }
        }
    }
});
