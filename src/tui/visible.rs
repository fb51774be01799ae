//! The list of steps the timeline shows, ascending: every step when no
//! filter or fold hides any, so it can hold millions.
//!
//! Stored as `u32` in fixed-size blocks: it never copies what it holds as
//! it grows. A `Vec<usize>` took 72 MB on a 9-million-step capture and,
//! doubling on the interface thread, stalled a pump for 100 ms copying
//! itself.

/// Positions per block.
const BLOCK: usize = 1 << 16;

#[derive(Debug, Default)]
pub struct Visible {
    blocks: Vec<Vec<u32>>,
    len: usize,
}

impl Visible {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a step; steps arrive ascending. A step index past `u32`
    /// (four billion steps) is not kept.
    pub fn push(&mut self, step: usize) {
        let Ok(v) = u32::try_from(step) else {
            return;
        };
        if self.len.is_multiple_of(BLOCK) {
            self.blocks.push(Vec::with_capacity(BLOCK));
        }
        if let Some(b) = self.blocks.last_mut() {
            b.push(v);
            self.len += 1;
        }
    }

    pub fn clear(&mut self) {
        self.blocks.clear();
        self.len = 0;
    }

    /// The step at a position of the list.
    pub fn get(&self, pos: usize) -> Option<usize> {
        let b = self.blocks.get(pos / BLOCK)?;
        b.get(pos % BLOCK).map(|&v| v as usize)
    }

    pub fn last(&self) -> Option<usize> {
        self.get(self.len.checked_sub(1)?)
    }

    /// How many listed steps come before `step` (where it is, or would be).
    pub fn rank(&self, step: usize) -> usize {
        // Blocks before the one that could hold it, then within that block.
        let b = self
            .blocks
            .partition_point(|blk| blk.last().is_some_and(|&v| (v as usize) < step));
        let within = self
            .blocks
            .get(b)
            .map_or(0, |blk| blk.partition_point(|&v| (v as usize) < step));
        // Past every block: the whole list (the last block may not be full).
        (b * BLOCK + within).min(self.len)
    }

    pub fn contains(&self, step: usize) -> bool {
        self.get(self.rank(step)) == Some(step)
    }

    /// The steps at positions `from..to` (clamped to the list).
    pub fn range(&self, from: usize, to: usize) -> impl DoubleEndedIterator<Item = usize> + '_ {
        let to = to.min(self.len);
        (from.min(to)..to).filter_map(|p| self.get(p))
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = usize> + '_ {
        self.range(0, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Across block boundaries: positions, ranks and ranges agree with a
    /// plain vector of the same steps.
    #[test]
    fn agrees_with_a_vector() {
        let steps: Vec<usize> = (0..3 * BLOCK + 17).filter(|i| i % 3 != 1).collect();
        let mut v = Visible::default();
        for &s in &steps {
            v.push(s);
        }
        assert_eq!(v.len(), steps.len());
        for probe in [
            0,
            1,
            2,
            BLOCK - 1,
            BLOCK,
            BLOCK + 1,
            2 * BLOCK + 5,
            3 * BLOCK + 16,
            10 * BLOCK,
        ] {
            let want = steps.partition_point(|&s| s < probe);
            assert_eq!(v.rank(probe), want, "rank of {probe}");
            assert_eq!(
                v.contains(probe),
                steps.binary_search(&probe).is_ok(),
                "{probe}"
            );
        }
        for pos in [0, BLOCK - 1, BLOCK, steps.len() - 1, steps.len()] {
            assert_eq!(v.get(pos), steps.get(pos).copied());
        }
        let mid: Vec<usize> = v.range(BLOCK - 2, BLOCK + 2).collect();
        assert_eq!(mid, steps[BLOCK - 2..BLOCK + 2]);
        assert_eq!(v.iter().next_back(), steps.last().copied());
        assert_eq!(v.last(), steps.last().copied());
        assert_eq!(v.range(5, 2).count(), 0);
        v.clear();
        assert!(v.is_empty() && v.get(0).is_none() && v.rank(5) == 0);
    }
}
