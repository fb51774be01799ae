//! A direction's undecoded bytes, with the provenance of every byte.
//!
//! The reassembler delivers in-order chunks; a decoder takes whole units
//! (an HTTP head, a WebSocket frame) off the front. Each chunk remembers the
//! capture packet that carried it, so a unit spanning several segments knows
//! all its packets. Memory is what is not yet consumed, plus one mark per
//! chunk in it.

use std::collections::VecDeque;

use crate::step::{Frames, Timestamp};
use crate::tcp::Provenance;

/// Capacity an empty buffer keeps for the next bytes.
const RETAINED_CAPACITY: usize = 64 * 1024;

#[derive(Debug, Default)]
pub struct StreamBuf {
    /// Stream offset of `data[start]`.
    base: u64,
    data: Vec<u8>,
    start: usize,
    /// (stream offset where a chunk starts, the packet that carried it).
    marks: VecDeque<(u64, Provenance)>,
}

/// A copy holds only the bytes not yet consumed: the consumed front of the
/// buffer (up to 64 KB before it is dropped) is of no use to a checkpoint,
/// and the TUI keeps a checkpoint every few thousand steps.
impl Clone for StreamBuf {
    fn clone(&self) -> StreamBuf {
        StreamBuf {
            base: self.base,
            data: self.data.get(self.start..).unwrap_or_default().to_vec(),
            start: 0,
            marks: self.marks.clone(),
        }
    }
}

impl StreamBuf {
    /// Appends a chunk delivered at stream offset `offset`.
    pub fn push(&mut self, offset: u64, bytes: &[u8], at: Provenance) {
        if self.is_empty() {
            // After a consumed-to-the-end buffer (or at the start) the next
            // chunk defines the base.
            self.data.clear();
            self.start = 0;
            self.base = offset;
        }
        debug_assert_eq!(offset, self.end(), "chunks must be contiguous");
        if self.marks.back().map(|m| m.1.frame) != Some(at.frame) || self.marks.is_empty() {
            self.marks.push_back((offset, at));
        }
        self.data.extend_from_slice(bytes);
    }

    /// The unconsumed bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.data[self.start..]
    }

    pub fn len(&self) -> usize {
        self.data.len() - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stream offset of the first unconsumed byte.
    pub fn offset(&self) -> u64 {
        self.base
    }

    /// Stream offset just past the last byte.
    pub fn end(&self) -> u64 {
        self.base + self.len() as u64
    }

    /// Packets that carried the next `len` bytes, ascending, and the time of
    /// the last of them.
    pub fn provenance(&self, len: usize) -> (Frames, Timestamp) {
        let lo = self.base;
        let hi = self.base + len.max(1) as u64;
        let mut frames: Frames = Frames::new();
        let mut time = Timestamp::default();
        for (i, (start, at)) in self.marks.iter().enumerate() {
            let end = self.marks.get(i + 1).map_or(u64::MAX, |m| m.0);
            if *start < hi && end > lo {
                frames.push(at.frame);
                time = time.max(at.time);
            }
            if *start >= hi {
                break;
            }
        }
        frames.sort_unstable();
        frames.dedup();
        (frames, time)
    }

    /// Drops the first `n` bytes (they became a step).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len());
        self.start += n;
        self.base += n as u64;
        while self.marks.len() > 1 && self.marks[1].0 <= self.base {
            self.marks.pop_front();
        }
        if self.start == self.data.len() {
            // Empty: give back a large buffer (a 70 KB message on each of
            // thousands of connections must not stay resident).
            if self.data.capacity() > RETAINED_CAPACITY {
                self.data = Vec::new();
            } else {
                self.data.clear();
            }
            self.start = 0;
        } else if self.start > 64 * 1024 && self.start > self.data.len() / 2 {
            self.data.drain(..self.start);
            self.start = 0;
        }
    }

    /// Drops everything (the decoder stopped).
    pub fn clear(&mut self) {
        let n = self.len();
        self.consume(n);
        self.marks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(frame: u64) -> Provenance {
        Provenance {
            frame,
            time: Timestamp {
                secs: frame as i64,
                nanos: 0,
            },
        }
    }

    #[test]
    fn provenance_follows_chunks_across_consumption() {
        let mut s = StreamBuf::default();
        s.push(0, b"abc", at(1));
        s.push(3, b"defg", at(2));
        s.push(7, b"hi", at(5));
        assert_eq!(s.provenance(2).0.as_slice(), [1]);
        assert_eq!(s.provenance(4).0.as_slice(), [1, 2]);
        s.consume(3);
        assert_eq!(s.offset(), 3);
        let (frames, time) = s.provenance(6);
        assert_eq!(frames.as_slice(), [2, 5]);
        assert_eq!(time.secs, 5);
        s.consume(6);
        assert!(s.is_empty());
        s.push(9, b"z", at(6));
        assert_eq!(s.provenance(1).0.as_slice(), [6]);
    }

    #[test]
    fn an_emptied_large_buffer_gives_its_memory_back() {
        let mut s = StreamBuf::default();
        s.push(0, &vec![7u8; 1 << 20], at(1));
        s.consume(1 << 20);
        assert!(s.data.capacity() <= RETAINED_CAPACITY);
        s.push(1 << 20, b"ab", at(2));
        assert_eq!(s.bytes(), b"ab");
    }
}
