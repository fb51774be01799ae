//! Inflating permessage-deflate messages (RFC 7692 §7.2.2).
//!
//! A compressed message is the raw DEFLATE data of all its frames joined,
//! with the trailing `00 00 ff ff` of a sync flush stripped by the sender
//! (§7.2.1). To read it: append `00 00 ff ff` and inflate. Unless the sender
//! announced `*_no_context_takeover`, its LZ77 window carries over from one
//! message to the next, so there is one [`Inflater`] per direction, kept for
//! the whole connection.
//!
//! Output is capped per message: a few kilobytes can inflate to gigabytes,
//! and Wireshark has had a decompression-bomb report for lacking a cap. A
//! truncated message leaves the shared window incomplete, so later messages
//! in that direction are flagged `context_lost`: their text may be wrong.
//!
//! A sender may also end a message with a final block (BFINAL = 1, §7.2.3.4
//! of the examples); the stream then ends and is restarted for the next
//! message, as zlib-based peers do.

use flate2::Decompress;

use crate::proto::http::inflate_capped;

/// The four bytes a sync flush ends with, removed by the sender (§7.2.1).
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// One inflated message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inflated {
    /// The message bytes, at most `cap`.
    pub data: Vec<u8>,
    /// Output stopped at `cap` while more would have followed.
    pub truncated: bool,
    /// An earlier message in this direction was truncated or corrupt, so
    /// the LZ77 window this one may refer to is incomplete.
    pub context_lost: bool,
}

/// Compressed data that could not be inflated; `partial` holds what came
/// out before the fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the compressed message is not valid DEFLATE after {} inflated bytes ({message}); RFC 7692 §7.2.2 says to append 00 00 ff ff and inflate",
    partial.len()
)]
pub struct InflateError {
    /// The decompressor's explanation.
    pub message: String,
    /// Output inflated before the fault (at most `cap`).
    pub partial: Vec<u8>,
    /// As in [`Inflated::context_lost`].
    pub context_lost: bool,
}

/// The LZ77 window of DEFLATE: a back-reference reaches at most this far.
const WINDOW: usize = 32 * 1024;

/// The inflater for one direction of one connection.
///
/// Cloneable although `flate2::Decompress` is not: the inflater keeps the
/// last 32 KiB it produced since the stream (re)started — all a later
/// back-reference can reach — and a clone primes a fresh decompressor with
/// them as one non-final stored block whose output it discards. That is
/// exact because between messages the stream sits at a block boundary,
/// byte-aligned: every message ends with the empty stored block of a sync
/// flush (`00 00 ff ff`, appended here). A message that ends mid-block
/// breaks the stream for the original too; its clone may then differ.
#[derive(Debug)]
pub struct Inflater {
    d: Decompress,
    no_context_takeover: bool,
    context_lost: bool,
    /// The last (up to) 32 KiB of output since the last reset.
    window: Vec<u8>,
}

impl Clone for Inflater {
    fn clone(&self) -> Inflater {
        let mut d = Decompress::new(false);
        let recent = self.recent();
        if !recent.is_empty() {
            // BFINAL = 0, BTYPE = 00 (stored), then LEN and NLEN.
            let len = u16::try_from(recent.len()).unwrap_or(u16::MAX);
            let mut block = Vec::with_capacity(recent.len() + 5);
            block.push(0x00);
            block.extend_from_slice(&len.to_le_bytes());
            block.extend_from_slice(&(!len).to_le_bytes());
            block.extend_from_slice(&recent[..usize::from(len)]);
            let mut out = Vec::new();
            // Stored bytes always inflate: nothing can fail here.
            let _ = inflate_capped(&mut d, &block, &mut out, recent.len());
        }
        Inflater {
            d,
            no_context_takeover: self.no_context_takeover,
            context_lost: self.context_lost,
            window: recent.to_vec(),
        }
    }
}

impl Inflater {
    /// An inflater for messages from a sender whose `*_no_context_takeover`
    /// parameter is `no_context_takeover` (from the server's response).
    pub fn new(no_context_takeover: bool) -> Self {
        Inflater {
            d: Decompress::new(false),
            no_context_takeover,
            context_lost: false,
            window: Vec::new(),
        }
    }

    /// Keeps (at least) the last 32 KiB of output for [`Clone`]. The
    /// buffer grows to twice the window before it is shifted, so small
    /// messages cost a copy of themselves, not of the window.
    fn remember(&mut self, data: &[u8]) {
        if data.len() >= WINDOW {
            self.window.clear();
            self.window.extend_from_slice(&data[data.len() - WINDOW..]);
            return;
        }
        self.window.extend_from_slice(data);
        if self.window.len() > 2 * WINDOW {
            self.window.drain(..self.window.len() - WINDOW);
        }
    }

    /// The last 32 KiB of output (what a back-reference can reach).
    fn recent(&self) -> &[u8] {
        &self.window[self.window.len().saturating_sub(WINDOW)..]
    }

    /// Whether the next message could refer back into earlier messages:
    /// context takeover is on and the window holds bytes.
    pub fn has_window(&self) -> bool {
        !self.no_context_takeover && !self.window.is_empty()
    }

    /// Whether `compressed` (a message that inflated to `data` with this
    /// direction's window) needed that window: inflated once more from an
    /// empty window, with the same `cap`, it fails or gives other bytes.
    /// A message that does not refer back inflates the same either way.
    pub fn needs_window(compressed: &[u8], data: &[u8], cap: usize) -> bool {
        match Inflater::new(true).inflate_message(compressed, cap) {
            Ok(alone) => alone.data != data,
            Err(_) => true,
        }
    }

    /// Inflates one whole message (its frames' payloads joined, unmasked),
    /// producing at most `cap` bytes.
    pub fn inflate_message(
        &mut self,
        compressed: &[u8],
        cap: usize,
    ) -> Result<Inflated, InflateError> {
        let context_lost = self.context_lost;
        if compressed.is_empty() {
            // Not a DEFLATE stream at all (an empty message compresses to
            // `00`); appending the tail alone would leave the inflater inside
            // a stored block and garble every later message.
            return Ok(Inflated {
                data: Vec::new(),
                truncated: false,
                context_lost,
            });
        }
        let mut data = Vec::new();
        let result = inflate_capped(&mut self.d, compressed, &mut data, cap).and_then(|first| {
            if first.truncated || first.stream_end {
                Ok(first)
            } else {
                inflate_capped(&mut self.d, &TAIL, &mut data, cap)
            }
        });
        match result {
            Ok(status) => {
                if status.truncated {
                    // The rest of this message never went through the
                    // window, so a shared window is now incomplete.
                    self.context_lost |= !self.no_context_takeover;
                }
                if self.no_context_takeover || status.truncated || status.stream_end {
                    self.d.reset(false);
                    self.window.clear();
                } else {
                    self.remember(&data);
                }
                Ok(Inflated {
                    data,
                    truncated: status.truncated,
                    context_lost,
                })
            }
            Err(message) => {
                self.d.reset(false);
                self.window.clear();
                self.context_lost |= !self.no_context_takeover;
                Err(InflateError {
                    message,
                    partial: data,
                    context_lost,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    const HELLO_AGAIN: [u8; 5] = [0xf2, 0x00, 0x11, 0x00, 0x00];

    #[test]
    fn rfc7692_7_2_3_1_single_message() {
        let out = Inflater::new(false).inflate_message(&HELLO, 1024).unwrap();
        assert_eq!(out.data, b"Hello");
        assert!(!out.truncated && !out.context_lost);
    }

    #[test]
    fn rfc7692_7_2_3_2_context_takeover() {
        let mut inf = Inflater::new(false);
        assert_eq!(inf.inflate_message(&HELLO, 1024).unwrap().data, b"Hello");
        assert_eq!(
            inf.inflate_message(&HELLO_AGAIN, 1024).unwrap().data,
            b"Hello"
        );
    }

    #[test]
    fn needs_window_tells_a_back_reference_from_a_message_alone() {
        // RFC 7692 §7.2.3.2: the second "Hello" is a back-reference into
        // the first.
        let mut inf = Inflater::new(false);
        assert!(!inf.has_window());
        let first = inf.inflate_message(&HELLO, 1024).unwrap().data;
        assert!(!Inflater::needs_window(&HELLO, &first, 1024));
        assert!(inf.has_window());
        let again = inf.inflate_message(&HELLO_AGAIN, 1024).unwrap().data;
        assert_eq!(again, b"Hello");
        assert!(Inflater::needs_window(&HELLO_AGAIN, &again, 1024));
        // The same text compressed on its own needs nothing before it.
        let alone = inf.inflate_message(&HELLO, 1024).unwrap().data;
        assert!(!Inflater::needs_window(&HELLO, &alone, 1024));
        // Without context takeover there is never a window to use.
        let mut inf = Inflater::new(true);
        inf.inflate_message(&HELLO, 1024).unwrap();
        assert!(!inf.has_window());
    }

    #[test]
    fn no_context_takeover_resets_between_messages() {
        let mut inf = Inflater::new(true);
        assert_eq!(inf.inflate_message(&HELLO, 1024).unwrap().data, b"Hello");
        // The second message is compressed independently, as a sender with
        // no_context_takeover must.
        assert_eq!(inf.inflate_message(&HELLO, 1024).unwrap().data, b"Hello");
        // A message that refers back into the previous one cannot be read
        // after the reset.
        let mut inf = Inflater::new(true);
        inf.inflate_message(&HELLO, 1024).unwrap();
        let second = inf.inflate_message(&HELLO_AGAIN, 1024);
        assert!(!matches!(second, Ok(ref d) if d.data == b"Hello"));
    }

    #[test]
    fn rfc7692_7_2_3_3_stored_block() {
        let payload = [
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ];
        let out = Inflater::new(false)
            .inflate_message(&payload, 1024)
            .unwrap();
        assert_eq!(out.data, b"Hello");
    }

    #[test]
    fn rfc7692_7_2_3_4_bfinal() {
        let payload = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
        let mut inf = Inflater::new(false);
        assert_eq!(inf.inflate_message(&payload, 1024).unwrap().data, b"Hello");
        // The stream ended; the next message starts a new one.
        assert_eq!(inf.inflate_message(&HELLO, 1024).unwrap().data, b"Hello");
    }

    #[test]
    fn rfc7692_7_2_3_5_two_blocks() {
        let payload = [
            0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
        ];
        let out = Inflater::new(false)
            .inflate_message(&payload, 1024)
            .unwrap();
        assert_eq!(out.data, b"Hello");
    }

    /// Synthetic: compress like a permessage-deflate sender (sync flush,
    /// tail stripped).
    fn compress(c: &mut flate2::Compress, data: &[u8]) -> Vec<u8> {
        let start = c.total_in();
        let mut out = Vec::new();
        loop {
            out.reserve(64 * 1024);
            let used = (c.total_in() - start) as usize;
            c.compress_vec(&data[used..], &mut out, flate2::FlushCompress::Sync)
                .unwrap();
            // Done once all input is in and the flush fitted in the buffer.
            if (c.total_in() - start) as usize == data.len() && out.len() < out.capacity() {
                break;
            }
        }
        assert!(out.ends_with(&TAIL));
        out.truncate(out.len() - 4);
        out
    }

    #[test]
    fn bomb_stops_at_cap_quickly() {
        let mut c = flate2::Compress::new(flate2::Compression::best(), false);
        let bomb = compress(&mut c, &vec![0u8; 10 << 20]);
        assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
        let started = std::time::Instant::now();
        let mut inf = Inflater::new(false);
        let out = inf.inflate_message(&bomb, 1 << 20).unwrap();
        assert_eq!(out.data.len(), 1 << 20);
        assert!(out.truncated);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        // The shared window is now incomplete: later messages say so.
        let next = inf.inflate_message(&HELLO, 1024).unwrap();
        assert!(next.context_lost);
        assert_eq!(next.data, b"Hello");
    }

    #[test]
    fn empty_messages() {
        let mut inf = Inflater::new(false);
        // RFC 7692 §7.2.3.6: an empty message is sent as the single byte 00
        // (frame `c1 01 00`).
        assert_eq!(inf.inflate_message(&[0x00], 1024).unwrap().data, b"");
        assert_eq!(inf.inflate_message(&[], 1024).unwrap().data, b"");
        assert_eq!(inf.inflate_message(&HELLO, 1024).unwrap().data, b"Hello");
    }

    #[test]
    fn exact_cap_is_not_truncation() {
        let out = Inflater::new(false).inflate_message(&HELLO, 5).unwrap();
        assert_eq!((out.data.as_slice(), out.truncated), (&b"Hello"[..], false));
        let out = Inflater::new(false).inflate_message(&HELLO, 4).unwrap();
        assert_eq!((out.data.as_slice(), out.truncated), (&b"Hell"[..], true));
    }

    #[test]
    fn corrupt_data_keeps_partial_output() {
        // Synthetic: "Hello" then a block with the reserved type 11.
        let mut bad = HELLO[..6].to_vec();
        bad.extend_from_slice(&[0x00, 0x00, 0x00, 0xff, 0xff, 0x07]);
        let mut inf = Inflater::new(false);
        let e = inf.inflate_message(&bad, 1024).unwrap_err();
        assert!(e.partial.len() <= 5 && b"Hello".starts_with(&e.partial));
        assert!(e.to_string().contains("RFC 7692"));
        let next = inf.inflate_message(&HELLO, 1024).unwrap();
        assert!(next.context_lost);
    }

    #[test]
    fn round_trip_with_context_takeover() {
        let mut c = flate2::Compress::new(flate2::Compression::default(), false);
        let mut inf = Inflater::new(false);
        for msg in [
            &b"42[\"chat\",\"hi\"]"[..],
            b"42[\"chat\",\"hi again\"]",
            b"",
        ] {
            let z = compress(&mut c, msg);
            assert_eq!(inf.inflate_message(&z, 1 << 16).unwrap().data, msg);
        }
    }

    /// Synthetic: a context-takeover stream whose later messages refer back
    /// into earlier ones, across more than one 32 KiB window.
    fn takeover_stream() -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut c = flate2::Compress::new(flate2::Compression::default(), false);
        let mut msgs: Vec<Vec<u8>> = Vec::new();
        for i in 0..40u32 {
            let mut m = format!("42[\"chat\",{{\"n\":{i},\"text\":\"").into_bytes();
            // Pseudo-random filler, some of it repeated from far back.
            let mut x = i.wrapping_mul(2_654_435_761) | 1;
            for _ in 0..(1500 + (i as usize * 97) % 3000) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                m.push(b'a' + (x % 16) as u8);
            }
            if i >= 2 {
                let back = msgs[(i as usize * 7) % (i as usize)].clone();
                m.extend_from_slice(&back[..back.len().min(900)]);
            }
            m.extend_from_slice(b"\"}]");
            msgs.push(m);
        }
        msgs.into_iter()
            .map(|m| (compress(&mut c, &m), m))
            .collect()
    }

    #[test]
    fn a_clone_inflates_the_next_messages_as_the_original() {
        let stream = takeover_stream();
        for cut in [0, 1, 3, 17, 39] {
            let mut inf = Inflater::new(false);
            for (z, m) in &stream[..cut] {
                assert_eq!(&inf.inflate_message(z, 1 << 20).unwrap().data, m);
            }
            let mut clone = inf.clone();
            for (z, m) in &stream[cut..] {
                let a = inf.inflate_message(z, 1 << 20).unwrap();
                let b = clone.inflate_message(z, 1 << 20).unwrap();
                assert_eq!(&a.data, m, "original, cut {cut}");
                assert_eq!(a, b, "clone, cut {cut}");
            }
        }
        // The stream really does reach back: a fresh inflater cannot read
        // the later messages, so the clone's window is what makes it work.
        let mut fresh = Inflater::new(false);
        let late = fresh.inflate_message(&stream[20].0, 1 << 20);
        assert!(!matches!(late, Ok(ref d) if d.data == stream[20].1));
    }

    #[test]
    fn a_clone_keeps_context_lost_and_no_takeover() {
        let mut inf = Inflater::new(false);
        let mut bad = HELLO[..6].to_vec();
        bad.extend_from_slice(&[0x00, 0x00, 0x00, 0xff, 0xff, 0x07]);
        assert!(inf.inflate_message(&bad, 1024).is_err());
        let mut clone = inf.clone();
        let next = clone.inflate_message(&HELLO, 1024).unwrap();
        assert!(next.context_lost);
        let mut nt = Inflater::new(true);
        nt.inflate_message(&HELLO, 1024).unwrap();
        let mut c = nt.clone();
        assert_eq!(c.inflate_message(&HELLO, 1024).unwrap().data, b"Hello");
        assert!(c.window.is_empty());
    }

    proptest! {
        #[test]
        fn never_panics(msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..4), cap in 0usize..256) {
            let mut inf = Inflater::new(false);
            for m in &msgs {
                match inf.inflate_message(m, cap) {
                    Ok(d) => prop_assert!(d.data.len() <= cap),
                    Err(e) => prop_assert!(e.partial.len() <= cap),
                }
            }
        }

        #[test]
        fn inflates_what_was_compressed(msgs in proptest::collection::vec(proptest::collection::vec(0u8..4, 0..300), 1..4)) {
            let mut c = flate2::Compress::new(flate2::Compression::default(), false);
            let mut inf = Inflater::new(false);
            for m in &msgs {
                let z = compress(&mut c, m);
                prop_assert_eq!(&inf.inflate_message(&z, 1 << 16).unwrap().data, m);
            }
        }
    }
}
