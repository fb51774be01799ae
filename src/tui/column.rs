//! Fixed-size blocks of values: a list of millions that grows without ever
//! copying what it holds.
//!
//! The interface keeps a few values per step (the index's columns, the
//! visible list). As one `Vec` each, they doubled on the interface thread on
//! a capture of millions of steps, copying 100 MB and more; with mimalloc,
//! which does not remap, each copy also faulted in fresh pages: pumps of
//! 250 ms.

/// Values per block.
const BLOCK: usize = 1 << 15;

pub struct Column<T> {
    blocks: Vec<Vec<T>>,
    len: usize,
}

impl<T: Copy> Column<T> {
    pub fn push(&mut self, v: T) {
        if self.len.is_multiple_of(BLOCK) {
            self.blocks.push(Vec::with_capacity(BLOCK));
        }
        if let Some(b) = self.blocks.last_mut() {
            b.push(v);
            self.len += 1;
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn get(&self, i: usize) -> Option<T> {
        self.blocks.get(i / BLOCK)?.get(i % BLOCK).copied()
    }

    /// Bytes reserved.
    pub fn bytes(&self) -> usize {
        self.blocks.len() * BLOCK * std::mem::size_of::<T>()
    }

    /// On a column ordered by `pred` (true, then false), the number of
    /// values for which it holds, as `slice::partition_point`.
    pub fn partition_point(&self, pred: impl Fn(T) -> bool) -> usize {
        let b = self
            .blocks
            .partition_point(|blk| blk.last().is_some_and(|&v| pred(v)));
        let within = self
            .blocks
            .get(b)
            .map_or(0, |blk| blk.partition_point(|&v| pred(v)));
        // Past every block: the whole column (the last block may not be full).
        (b * BLOCK + within).min(self.len)
    }
}

impl<T> Default for Column<T> {
    fn default() -> Self {
        Column {
            blocks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> std::ops::Index<usize> for Column<T> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        &self.blocks[i / BLOCK][i % BLOCK]
    }
}

impl<T> std::ops::IndexMut<usize> for Column<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.blocks[i / BLOCK][i % BLOCK]
    }
}

/// Timestamps (nanoseconds) in half the room of a `Column<i64>` where
/// traffic is dense: a block whose values all lie within 4.29 s of its
/// first keeps each as a `u32` offset from it; a block that does not (a
/// quiet spell, a clock stepping back) turns into whole values, once. On a
/// capture of nine million steps this is 36 MB of the interface's memory.
#[derive(Default)]
pub struct Times {
    blocks: Vec<TimeBlock>,
    len: usize,
}

enum TimeBlock {
    Offsets { base: i64, offsets: Vec<u32> },
    Whole(Vec<i64>),
}

impl Times {
    pub fn push(&mut self, v: i64) {
        if self.len.is_multiple_of(BLOCK) {
            let mut offsets = Vec::with_capacity(BLOCK);
            offsets.push(0);
            self.blocks.push(TimeBlock::Offsets { base: v, offsets });
            self.len += 1;
            return;
        }
        let Some(block) = self.blocks.last_mut() else {
            return;
        };
        match block {
            TimeBlock::Offsets { base, offsets } => {
                match v.checked_sub(*base).and_then(|d| u32::try_from(d).ok()) {
                    Some(d) => offsets.push(d),
                    None => {
                        let mut whole = Vec::with_capacity(BLOCK);
                        whole.extend(offsets.iter().map(|&d| *base + i64::from(d)));
                        whole.push(v);
                        *block = TimeBlock::Whole(whole);
                    }
                }
            }
            TimeBlock::Whole(whole) => whole.push(v),
        }
        self.len += 1;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn get(&self, i: usize) -> Option<i64> {
        match self.blocks.get(i / BLOCK)? {
            TimeBlock::Offsets { base, offsets } => {
                offsets.get(i % BLOCK).map(|&d| base + i64::from(d))
            }
            TimeBlock::Whole(whole) => whole.get(i % BLOCK).copied(),
        }
    }

    /// Bytes reserved.
    pub fn bytes(&self) -> usize {
        self.blocks
            .iter()
            .map(|b| match b {
                TimeBlock::Offsets { offsets, .. } => offsets.capacity() * 4,
                TimeBlock::Whole(whole) => whole.capacity() * 8,
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Synthetic times over six blocks: dense ones (kept as offsets), one
    /// where the clock steps back, one with a quiet spell longer than an
    /// offset holds, and the extremes, all read back.
    #[test]
    fn times_read_back_what_was_pushed() {
        let mut want = Vec::new();
        let mut t: i64 = 1_700_000_000_000_000_000;
        for i in 0..(5 * BLOCK + 77) {
            t += match i {
                _ if i == BLOCK + 100 => -5_000_000_000, // the clock steps back
                _ if i == 3 * BLOCK + 5 => 10_000_000_000, // a quiet spell
                _ if i % 7 == 0 => 0,
                _ => 12_345,
            };
            want.push(t);
        }
        want.extend([i64::MIN, i64::MAX, 0, -1, i64::MAX - 1]);
        let mut times = Times::default();
        for &v in &want {
            times.push(v);
        }
        assert_eq!(times.len(), want.len());
        for (i, &v) in want.iter().enumerate() {
            assert_eq!(times.get(i), Some(v), "at {i}");
        }
        assert_eq!(times.get(want.len()), None);
        let whole: Vec<usize> = (0..times.blocks.len())
            .filter(|&b| matches!(times.blocks[b], TimeBlock::Whole(_)))
            .collect();
        assert_eq!(whole, [1, 3, 5], "blocks kept whole");
    }

    /// Across block boundaries: positions and partition points agree with a
    /// plain vector of the same values.
    #[test]
    fn agrees_with_a_vector() {
        let values: Vec<u32> = (0..3 * BLOCK as u32 + 17).filter(|i| i % 3 != 1).collect();
        let mut c = Column::default();
        for &v in &values {
            c.push(v);
        }
        assert_eq!(c.len(), values.len());
        let b = BLOCK as u32;
        for probe in [0, 1, 2, b - 1, b, b + 1, 2 * b + 5, 3 * b + 16, 10 * b] {
            assert_eq!(
                c.partition_point(|v| v < probe),
                values.partition_point(|&v| v < probe),
                "partition point at {probe}"
            );
        }
        for pos in [0, BLOCK - 1, BLOCK, values.len() - 1, values.len()] {
            assert_eq!(c.get(pos), values.get(pos).copied());
        }
        c[BLOCK] = 7;
        assert_eq!(c.get(BLOCK), Some(7));
        let empty = Column::<u32>::default();
        assert!(empty.get(0).is_none() && empty.partition_point(|_| true) == 0);
    }
}
