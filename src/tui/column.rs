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

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn clear(&mut self) {
        self.blocks.clear();
        self.len = 0;
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

#[cfg(test)]
mod tests {
    use super::*;

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
        c.clear();
        assert!(c.is_empty() && c.get(0).is_none() && c.partition_point(|_| true) == 0);
    }
}
