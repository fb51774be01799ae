//! The list of steps the timeline shows, ascending: every step when no
//! filter or fold hides any, so it can hold millions. `u32` in a
//! [`Column`]: 36 MB on a 9-million-step capture where a `Vec<usize>` took
//! 72 MB, and it never copies itself as it grows.

use super::column::Column;

#[derive(Default)]
pub struct Visible(Column<u32>);

impl Visible {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Appends a step; steps arrive ascending. A step index past `u32`
    /// (four billion steps) is not kept.
    pub fn push(&mut self, step: usize) {
        if let Ok(v) = u32::try_from(step) {
            self.0.push(v);
        }
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The step at a position of the list.
    pub fn get(&self, pos: usize) -> Option<usize> {
        self.0.get(pos).map(|v| v as usize)
    }

    pub fn last(&self) -> Option<usize> {
        self.get(self.len().checked_sub(1)?)
    }

    /// How many listed steps come before `step` (where it is, or would be).
    pub fn rank(&self, step: usize) -> usize {
        self.0.partition_point(|v| (v as usize) < step)
    }

    pub fn contains(&self, step: usize) -> bool {
        self.get(self.rank(step)) == Some(step)
    }

    /// The steps at positions `from..to` (clamped to the list).
    pub fn range(&self, from: usize, to: usize) -> impl DoubleEndedIterator<Item = usize> + '_ {
        let to = to.min(self.len());
        (from.min(to)..to).filter_map(|p| self.get(p))
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = usize> + '_ {
        self.range(0, self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_ranges_and_membership() {
        let steps: Vec<usize> = (0..100_000).filter(|i| i % 3 != 1).collect();
        let mut v = Visible::default();
        for &s in &steps {
            v.push(s);
        }
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
}
