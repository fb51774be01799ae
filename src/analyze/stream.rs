//! A direction's undecoded bytes, with the provenance of every byte.
//!
//! The reassembler delivers in-order chunks; a decoder takes whole units
//! (an HTTP head, a WebSocket frame) off the front. Each chunk remembers the
//! capture packet that carried it, so a unit spanning several segments knows
//! all its packets. Memory is what is not yet consumed, plus one mark per
//! chunk in it.

use std::collections::VecDeque;

use std::ops::Range;

use crate::step::{FrameNo, Frames, Timestamp};
use crate::tcp::Provenance;

/// Which packets carried which bytes of a unit taken off a stream (an HTTP
/// body): for each packet, the offset of the first byte it carried,
/// relative to the unit's start, ascending. Empty when unknown — the
/// unit's bytes are not the wire bytes (a de-chunked or decoded body).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ByteMap(Vec<(u32, FrameNo)>);

impl ByteMap {
    /// The packets that carried `range` of the unit, ascending; `None`
    /// when the map is unknown.
    pub fn frames(&self, range: Range<usize>) -> Option<Frames> {
        if self.0.is_empty() {
            return None;
        }
        let start = u32::try_from(range.start).unwrap_or(u32::MAX);
        let end = u32::try_from(range.end.max(range.start + 1)).unwrap_or(u32::MAX);
        // The packet holding the first byte: the last mark at or before it.
        let first = self.0.partition_point(|m| m.0 <= start).saturating_sub(1);
        let mut frames: Frames = self.0[first..]
            .iter()
            .take_while(|m| m.0 < end)
            .map(|m| m.1)
            .collect();
        frames.sort_unstable();
        frames.dedup();
        Some(frames)
    }
}

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

    /// Which packets carried the `len` bytes from `from` on (relative to the
    /// first unconsumed byte), as a map relative to `from`.
    pub fn byte_map(&self, from: usize, len: usize) -> ByteMap {
        let lo = self.base + from as u64;
        let hi = lo + len as u64;
        let mut map = Vec::new();
        for (i, (start, at)) in self.marks.iter().enumerate() {
            let end = self.marks.get(i + 1).map_or(u64::MAX, |m| m.0);
            if *start >= hi {
                break;
            }
            if end > lo {
                let rel = start.saturating_sub(lo);
                map.push((u32::try_from(rel).unwrap_or(u32::MAX), at.frame));
            }
        }
        ByteMap(map)
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
    fn a_byte_map_names_the_packets_of_each_span() {
        let mut s = StreamBuf::default();
        // A head (packet 1), then a body one byte a packet (2, 3, 4), then
        // the next message's bytes (5).
        s.push(0, b"HEAD:", at(1));
        s.push(5, b"a", at(2));
        s.push(6, b"b", at(3));
        s.push(7, b"cNEXT", at(4));
        s.push(12, b"x", at(5));
        let map = s.byte_map(5, 3);
        assert_eq!(map, ByteMap(vec![(0, 2), (1, 3), (2, 4)]));
        assert_eq!(map.frames(0..1).unwrap().as_slice(), [2]);
        assert_eq!(map.frames(1..3).unwrap().as_slice(), [3, 4]);
        // An empty span is carried by the packet holding its position.
        assert_eq!(map.frames(2..2).unwrap().as_slice(), [4]);
        // A span starting inside a packet's bytes.
        let map = s.byte_map(3, 4);
        assert_eq!(map.frames(0..2).unwrap().as_slice(), [1]);
        assert_eq!(map.frames(1..4).unwrap().as_slice(), [1, 2, 3]);
        assert_eq!(ByteMap::default().frames(0..1), None);
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
