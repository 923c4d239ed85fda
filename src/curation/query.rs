//! The difficulty part of a curation filter (band, clicked pass count, class facet), shared by the
//! Curation workspace and `medvlm curate filter`, so both select exactly the same items.

use std::collections::{BTreeMap, BTreeSet};

use super::{Band, Difficulty};
use crate::domain::ItemRow;
use crate::store::PassCount;

/// Difficulty constraints over rows with (optional) pass counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DifficultyFilter {
    /// The band of the chosen estimate.
    pub band: Band,
    /// Keep only items inside the band (or set to `medium` by hand).
    pub band_only: bool,
    /// Keep only items with exactly this pass count (a clicked histogram bar).
    pub pass_count: Option<usize>,
    /// Keep only items of these classes (empty = all).
    pub classes: BTreeSet<Difficulty>,
}

impl DifficultyFilter {
    /// No constraint, with `band`.
    pub fn new(band: Band) -> Self {
        Self { band, band_only: false, pass_count: None, classes: BTreeSet::new() }
    }

    /// True when it keeps every row.
    pub fn is_open(&self) -> bool {
        !self.band_only && self.pass_count.is_none() && self.classes.is_empty()
    }

    /// Whether a row with this pass count passes.
    pub fn keeps(&self, row: &ItemRow, count: Option<PassCount>) -> bool {
        let by_hand = Difficulty::set_by_hand(&row.tags);
        let class = by_hand.unwrap_or_else(|| Difficulty::of(count, self.band));
        let in_band = match by_hand {
            Some(d) => d == Difficulty::Medium,
            None => count.is_some_and(|c| self.band.contains(c.n_correct)),
        };
        (self.classes.is_empty() || self.classes.contains(&class))
            && (!self.band_only || in_band)
            && self.pass_count.is_none_or(|n| count.is_some_and(|c| c.n_correct == n))
    }

    /// Keeps the row positions in `v` that pass; `counts` is aligned with `rows` (empty = no estimate).
    pub fn retain(&self, v: &mut Vec<usize>, rows: &[ItemRow], counts: &[Option<PassCount>]) {
        if self.is_open() {
            return;
        }
        v.retain(|&i| self.keeps(&rows[i], counts.get(i).copied().flatten()));
    }

    /// Items per class (hand-set bands included) among the row positions `v`.
    pub fn class_counts(
        &self,
        v: &[usize],
        rows: &[ItemRow],
        counts: &[Option<PassCount>],
    ) -> BTreeMap<Difficulty, usize> {
        // Counters by class index (a map entry per row would cost more than the filter itself).
        let mut n = [0usize; Difficulty::ALL.len()];
        for &i in v {
            let d = Difficulty::of_item(&rows[i].tags, counts.get(i).copied().flatten(), self.band);
            n[d as usize] += 1;
        }
        Difficulty::ALL.into_iter().zip(n).filter(|(_, c)| *c > 0).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Modality, Split};

    fn row(id: i64, tags: &[&str]) -> ItemRow {
        ItemRow {
            id,
            uid: format!("u{id}"),
            question: String::new(),
            answer_letter: Some('A'),
            n_options: 2,
            modality: Modality::Mri,
            body_part: None,
            source: "s".into(),
            split: Split::Train,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            n_images: 1,
            missing_images: 0,
            unreadable_images: 0,
            review: Default::default(),
        }
    }

    #[test]
    fn hand_set_bands_win_over_pass_counts() {
        let rows = vec![row(1, &[]), row(2, &["difficulty:medium"]), row(3, &["difficulty:easy"]), row(4, &[])];
        let pc = |n| Some(PassCount { n_correct: n, n_samples: 8 });
        let counts = vec![pc(2), pc(8), pc(2), None];
        let mut f = DifficultyFilter::new(Band::medium(8));
        let mut v: Vec<usize> = (0..4).collect();
        f.retain(&mut v, &rows, &counts);
        assert_eq!(v, vec![0, 1, 2, 3]);
        f.band_only = true;
        f.retain(&mut v, &rows, &counts);
        assert_eq!(v, vec![0, 1], "row 2 is set to medium by hand, row 3 to easy");
        let all: Vec<usize> = (0..4).collect();
        let c = f.class_counts(&all, &rows, &counts);
        assert_eq!(c[&Difficulty::Medium], 2);
        assert_eq!(c[&Difficulty::Easy], 1);
        assert_eq!(c[&Difficulty::Unestimated], 1);
        let mut f = DifficultyFilter::new(Band::medium(8));
        f.pass_count = Some(2);
        let mut v = all.clone();
        f.retain(&mut v, &rows, &counts);
        assert_eq!(v, vec![0, 2]);
    }
}
