//! The list of steps the timeline shows, ascending: every step when no
//! filter or fold hides any, so it can hold millions.
//!
//! A bit per step (is it listed?) with a running count every 512 steps:
//! 1.2 MB on a 9-million-step capture, where a `u32` per listed step took
//! 36 MB (and a `Vec<usize>` 72 MB). Position → step and step → position
//! are a binary search over the counts and a few popcounts.

use super::column::Column;

/// Bits per superblock, the unit of the running counts.
const SUPER: usize = 512;
const WORDS: usize = SUPER / 64;

#[derive(Default)]
pub struct Visible {
    /// Bit `s` is set when step `s` is listed.
    bits: Column<u64>,
    /// Listed steps before each superblock.
    before: Column<u32>,
    /// Listed steps in all.
    len: usize,
    /// Steps the bitmap covers (one past the last step pushed).
    end: usize,
}

impl Visible {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a step; steps arrive ascending (others are not kept). A step
    /// index past `u32` (four billion steps) is not kept either.
    pub fn push(&mut self, step: usize) {
        if step < self.end || u32::try_from(step).is_err() {
            return;
        }
        let word = step / 64;
        while self.bits.len() <= word {
            if self.bits.len().is_multiple_of(WORDS) {
                // The count holds: at most u32::MAX steps are kept.
                self.before.push(self.len as u32);
            }
            self.bits.push(0);
        }
        // (`word` exists: the loop above pushed up to it.)
        self.bits[word] |= 1 << (step % 64);
        self.len += 1;
        self.end = step + 1;
    }

    pub fn clear(&mut self) {
        *self = Visible::default();
    }

    /// The step at a position of the list.
    pub fn get(&self, pos: usize) -> Option<usize> {
        if pos >= self.len {
            return None;
        }
        // The last superblock with fewer listed steps before it than `pos + 1`.
        let sb = self.before.partition_point(|n| n as usize <= pos) - 1;
        let mut left = pos - self.before.get(sb)? as usize;
        for word in sb * WORDS..(sb + 1) * WORDS {
            let mut w = self.bits.get(word)?;
            let ones = w.count_ones() as usize;
            if left < ones {
                for _ in 0..left {
                    w &= w - 1;
                }
                return Some(word * 64 + w.trailing_zeros() as usize);
            }
            left -= ones;
        }
        None
    }

    pub fn last(&self) -> Option<usize> {
        self.get(self.len.checked_sub(1)?)
    }

    /// How many listed steps come before `step` (where it is, or would be).
    pub fn rank(&self, step: usize) -> usize {
        if step >= self.end {
            return self.len;
        }
        let word = step / 64;
        let sb = word / WORDS;
        let mut n = self.before.get(sb).unwrap_or(0) as usize;
        for w in sb * WORDS..word {
            n += self.bits.get(w).unwrap_or(0).count_ones() as usize;
        }
        let below = (1u64 << (step % 64)) - 1;
        n + (self.bits.get(word).unwrap_or(0) & below).count_ones() as usize
    }

    pub fn contains(&self, step: usize) -> bool {
        step < self.end && self.bits.get(step / 64).unwrap_or(0) & 1 << (step % 64) != 0
    }

    /// The steps at positions `from..to` (clamped to the list), read off
    /// the bits from the first one on.
    pub fn range(&self, from: usize, to: usize) -> Range<'_> {
        let to = to.min(self.len);
        let from = from.min(to);
        let (front, back) = if from < to {
            (self.get(from).unwrap_or(0), self.get(to - 1).unwrap_or(0))
        } else {
            (0, 0)
        };
        Range {
            v: self,
            left: to - from,
            front,
            back,
        }
    }

    pub fn iter(&self) -> Range<'_> {
        self.range(0, self.len)
    }
}

/// Listed steps between two positions, in either direction.
pub struct Range<'a> {
    v: &'a Visible,
    /// Steps still to yield.
    left: usize,
    /// The next step from the front, and from the back (both listed while
    /// `left > 0`).
    front: usize,
    back: usize,
}

impl Iterator for Range<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.left == 0 {
            return None;
        }
        let s = self.front;
        self.left -= 1;
        if self.left > 0 {
            // The next set bit after `s`.
            let mut word = (s + 1) / 64;
            let mut w = self.v.bits.get(word).unwrap_or(0) & (!0u64 << ((s + 1) % 64));
            while w == 0 {
                word += 1;
                w = self.v.bits.get(word)?;
            }
            self.front = word * 64 + w.trailing_zeros() as usize;
        }
        Some(s)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl DoubleEndedIterator for Range<'_> {
    fn next_back(&mut self) -> Option<usize> {
        if self.left == 0 {
            return None;
        }
        let s = self.back;
        self.left -= 1;
        if self.left > 0 {
            // The last set bit before `s` (one exists: `left` steps remain
            // at or after `front`, which is below `s`).
            let mut word = s / 64;
            let mut w = self.v.bits.get(word).unwrap_or(0) & ((1u64 << (s % 64)) - 1);
            while w == 0 {
                word = word.checked_sub(1)?;
                w = self.v.bits.get(word)?;
            }
            self.back = word * 64 + 63 - w.leading_zeros() as usize;
        }
        Some(s)
    }
}

impl ExactSizeIterator for Range<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn of(steps: &[usize]) -> Visible {
        let mut v = Visible::default();
        for &s in steps {
            v.push(s);
        }
        v
    }

    #[test]
    fn ranks_ranges_and_membership() {
        let steps: Vec<usize> = (0..100_000).filter(|i| i % 3 != 1).collect();
        let v = of(&steps);
        assert_eq!(v.len(), steps.len());
        for probe in [0, 1, 2, 40_000, 40_001, 99_999, 200_000] {
            assert_eq!(v.rank(probe), steps.partition_point(|&s| s < probe));
            assert_eq!(v.contains(probe), steps.binary_search(&probe).is_ok());
        }
        let mid: Vec<usize> = v.range(40_000, 40_004).collect();
        assert_eq!(mid, steps[40_000..40_004]);
        assert_eq!(v.iter().next_back(), steps.last().copied());
        assert_eq!(v.last(), steps.last().copied());
        assert_eq!(v.range(5, 2).count(), 0);
    }

    #[test]
    fn millions_of_steps_take_a_bit_each() {
        let n = 3_000_000;
        let v = of(&(0..n).collect::<Vec<_>>());
        assert_eq!(
            (v.len(), v.get(n - 1), v.rank(n - 1)),
            (n, Some(n - 1), n - 1)
        );
        // Whole blocks are reserved, so more than n / 8 bytes, but under a
        // quarter byte a step; a `u32` per listed step would be 4 n.
        let bytes = v.bits.bytes() + v.before.bytes();
        assert!(bytes < n / 4, "{bytes} bytes");
    }

    #[test]
    fn sparse_lists_skip_empty_words_both_ways() {
        // Listed steps far apart: whole superblocks without one.
        let steps = [3, 64, 65, 5_000, 70_000, 70_063, 1_000_000];
        let v = of(&steps);
        assert_eq!(v.iter().collect::<Vec<_>>(), steps);
        assert_eq!(v.iter().rev().collect::<Vec<_>>(), {
            let mut r = steps.to_vec();
            r.reverse();
            r
        });
        for (pos, &s) in steps.iter().enumerate() {
            assert_eq!(v.get(pos), Some(s));
            assert_eq!(v.rank(s), pos);
            assert!(v.contains(s) && !v.contains(s + 1) || steps.contains(&(s + 1)));
        }
        assert_eq!(v.get(steps.len()), None);
        // Out of order and repeated steps are not kept.
        let mut w = of(&steps);
        w.push(10);
        w.push(1_000_000);
        assert_eq!(w.len(), steps.len());
    }

    proptest! {
        /// Against a sorted `Vec`: every operation, on random lists.
        #[test]
        fn behaves_as_a_sorted_list(
            gaps in proptest::collection::vec(0usize..200, 0..600),
            from in 0usize..700,
            take in 0usize..700,
        ) {
            let mut steps = Vec::new();
            let mut s = 0;
            for g in gaps {
                s += g;
                steps.push(s);
                s += 1;
            }
            let v = of(&steps);
            prop_assert_eq!(v.len(), steps.len());
            prop_assert_eq!(v.is_empty(), steps.is_empty());
            prop_assert_eq!(v.last(), steps.last().copied());
            for (pos, &st) in steps.iter().enumerate() {
                prop_assert_eq!(v.get(pos), Some(st));
            }
            let top = s + 70;
            for probe in 0..top {
                prop_assert_eq!(v.rank(probe), steps.partition_point(|&x| x < probe));
                prop_assert_eq!(v.contains(probe), steps.binary_search(&probe).is_ok());
            }
            let to = from.saturating_add(take);
            let want: Vec<usize> =
                steps.iter().copied().skip(from).take(to.min(steps.len()).saturating_sub(from)).collect();
            let got: Vec<usize> = v.range(from, to).collect();
            prop_assert_eq!(&got, &want);
            let mut back: Vec<usize> = v.range(from, to).rev().collect();
            back.reverse();
            prop_assert_eq!(&back, &want);
            // Meeting in the middle.
            let mut r = v.range(from, to);
            let mut both = Vec::new();
            let mut tail = Vec::new();
            while let Some(x) = r.next() {
                both.push(x);
                match r.next_back() {
                    Some(x) => tail.push(x),
                    None => break,
                }
            }
            tail.reverse();
            both.extend(tail);
            prop_assert_eq!(&both, &want);
        }
    }
}
