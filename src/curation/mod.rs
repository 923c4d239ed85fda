//! Curation by difficulty: pass-count estimation jobs, the pass-count histogram by modality or
//! source, and the difficulty band filter (MedVLThinker keeps items solved 1–7 times out of 16).

pub mod bulk;
pub mod leakage;
pub mod passrate;
pub mod query;
pub mod redact;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::domain::dataset::ItemRow;
use crate::store::PassCount;

/// An inclusive band of pass counts out of `k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Band {
    /// Lowest pass count kept.
    pub lo: usize,
    /// Highest pass count kept.
    pub hi: usize,
}

impl Band {
    /// MedVLThinker's medium band scaled to k: 1…7 of 16, i.e. solved at least once and less than half the time.
    pub fn medium(k: usize) -> Self {
        Self { lo: 1.min(k), hi: (k * 7 / 16).max(1).min(k) }
    }

    /// Parses `LO-HI`, e.g. `1-7`.
    ///
    /// # Errors
    /// What is wrong with the text, for a message naming the flag.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (lo, hi) = text.split_once('-').ok_or_else(|| format!("{text:?}: expected LO-HI, e.g. 1-7"))?;
        let num =
            |s: &str, what: &str| s.trim().parse::<usize>().map_err(|_| format!("{text:?}: {what} is not a number"));
        let band = Self { lo: num(lo, "LO")?, hi: num(hi, "HI")? };
        if band.lo > band.hi {
            return Err(format!("{text:?}: LO is above HI"));
        }
        Ok(band)
    }

    /// Whether a pass count is inside.
    pub fn contains(&self, n_correct: usize) -> bool {
        (self.lo..=self.hi).contains(&n_correct)
    }
}

/// The difficulty class of an item under an estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Difficulty {
    /// Not estimated under the chosen key.
    Unestimated,
    /// Never solved (0 of k): no learning signal, possibly a bad key.
    TooHard,
    /// Inside the band.
    Medium,
    /// Solved more often than the band's top but not always.
    Easy,
    /// Always solved (k of k): no learning signal.
    Solved,
}

impl Difficulty {
    /// Classifies a pass count.
    pub fn of(count: Option<PassCount>, band: Band) -> Self {
        match count {
            None => Self::Unestimated,
            Some(c) if c.n_correct == 0 => Self::TooHard,
            Some(c) if c.n_correct >= c.n_samples => Self::Solved,
            Some(c) if band.contains(c.n_correct) => Self::Medium,
            Some(c) if c.n_correct < band.lo => Self::TooHard,
            Some(_) => Self::Easy,
        }
    }

    /// The class of an item: the curator's band set by hand (a `difficulty:<slug>` tag) wins over
    /// the pass count.
    pub fn of_item(tags: &[String], count: Option<PassCount>, band: Band) -> Self {
        Self::set_by_hand(tags).unwrap_or_else(|| Self::of(count, band))
    }

    /// The band a curator set by hand, if any (the last `difficulty:<slug>` tag).
    pub fn set_by_hand(tags: &[String]) -> Option<Self> {
        tags.iter().rev().find_map(|t| t.strip_prefix(bulk::BAND_TAG_PREFIX).and_then(Self::from_slug))
    }

    /// Short name used in tags and on the command line.
    pub fn slug(self) -> &'static str {
        match self {
            Self::Unestimated => "unestimated",
            Self::TooHard => "too-hard",
            Self::Medium => "medium",
            Self::Easy => "easy",
            Self::Solved => "solved",
        }
    }

    /// Inverse of [`Self::slug`] (the classes a curator can set: not `unestimated`).
    pub fn from_slug(s: &str) -> Option<Self> {
        [Self::TooHard, Self::Medium, Self::Easy, Self::Solved].into_iter().find(|d| d.slug() == s.trim())
    }

    /// Every class, in facet order.
    pub const ALL: [Self; 5] = [Self::Unestimated, Self::TooHard, Self::Medium, Self::Easy, Self::Solved];

    /// Label for facets.
    pub fn label(self) -> &'static str {
        match self {
            Self::Unestimated => "not estimated",
            Self::TooHard => "too hard (0)",
            Self::Medium => "medium (in band)",
            Self::Easy => "easy",
            Self::Solved => "solved (k/k)",
        }
    }
}

/// How the histogram's bars are split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum SplitBy {
    /// One series per modality.
    Modality,
    /// One series per source dataset.
    Source,
}

/// Pass-count histogram: for each series, the number of items with 0…k correct samples.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Histogram {
    /// Samples per item.
    pub k: usize,
    /// Series name → counts (length k + 1).
    pub series: BTreeMap<String, Vec<usize>>,
    /// Items in the rows given that have no estimate.
    pub unestimated: usize,
}

impl Histogram {
    /// Builds the histogram of `rows` under `estimates`.
    pub fn build<'a>(
        rows: impl IntoIterator<Item = &'a ItemRow>,
        estimates: &HashMap<i64, PassCount>,
        k: usize,
        by: SplitBy,
    ) -> Self {
        Self::build_from(rows.into_iter().map(|r| (r, estimates.get(&r.id).copied())), k, by)
    }

    /// Builds the histogram from rows paired with their estimate (the UI keeps them dense, by row).
    pub fn build_from<'a>(
        pairs: impl IntoIterator<Item = (&'a ItemRow, Option<PassCount>)>,
        k: usize,
        by: SplitBy,
    ) -> Self {
        let mut series: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut unestimated = 0;
        for (r, c) in pairs {
            let Some(c) = c else {
                unestimated += 1;
                continue;
            };
            let name = match by {
                SplitBy::Modality => r.modality.as_str(),
                SplitBy::Source => r.source.as_str(),
            };
            if !series.contains_key(name) {
                series.insert(name.to_string(), vec![0; k + 1]);
            }
            let Some(bars) = series.get_mut(name) else { continue };
            // Counts from an estimate with a different k are rescaled to this k's bins.
            let bin =
                if c.n_samples == k { c.n_correct } else { (c.n_correct * k + c.n_samples / 2) / c.n_samples.max(1) };
            bars[bin.min(k)] += 1;
        }
        Self { k, series, unestimated }
    }

    /// Items per pass count over all series.
    pub fn totals(&self) -> Vec<usize> {
        let mut t = vec![0; self.k + 1];
        for s in self.series.values() {
            for (a, b) in t.iter_mut().zip(s) {
                *a += b;
            }
        }
        t
    }
}

/// Unbiased pass@k from `c` correct of `n` samples (Chen et al. 2021): `1 - C(n-c, k) / C(n, k)`.
pub fn pass_at_k(n: usize, c: usize, k: usize) -> f64 {
    if k == 0 || n == 0 {
        return 0.0;
    }
    if n - c.min(n) < k {
        return 1.0;
    }
    let mut prod = 1.0;
    for i in (n - c + 1)..=n {
        prod *= 1.0 - k as f64 / i as f64;
    }
    1.0 - prod
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_at_k_is_the_unbiased_estimator() {
        assert!((pass_at_k(16, 4, 1) - 0.25).abs() < 1e-12);
        assert_eq!(pass_at_k(16, 0, 8), 0.0);
        assert_eq!(pass_at_k(16, 9, 8), 1.0);
        // 1 - C(12,2)/C(16,2) = 1 - 66/120
        assert!((pass_at_k(16, 4, 2) - (1.0 - 66.0 / 120.0)).abs() < 1e-12);
    }

    #[test]
    fn bands_parse_from_lo_hi_and_name_what_is_wrong() {
        assert_eq!(Band::parse("1-7"), Ok(Band { lo: 1, hi: 7 }));
        assert_eq!(Band::parse(" 2 - 3 "), Ok(Band { lo: 2, hi: 3 }));
        assert!(Band::parse("7").unwrap_err().contains("expected LO-HI"));
        assert!(Band::parse("a-3").unwrap_err().contains("LO is not a number"));
        assert!(Band::parse("5-3").unwrap_err().contains("LO is above HI"));
    }

    #[test]
    fn medium_band_is_medvlthinkers_at_16_and_scales() {
        assert_eq!(Band::medium(16), Band { lo: 1, hi: 7 });
        assert_eq!(Band::medium(8), Band { lo: 1, hi: 3 });
        let b = Band::medium(16);
        let pc = |n| Some(PassCount { n_correct: n, n_samples: 16 });
        assert_eq!(Difficulty::of(pc(0), b), Difficulty::TooHard);
        assert_eq!(Difficulty::of(pc(1), b), Difficulty::Medium);
        assert_eq!(Difficulty::of(pc(7), b), Difficulty::Medium);
        assert_eq!(Difficulty::of(pc(8), b), Difficulty::Easy);
        assert_eq!(Difficulty::of(pc(16), b), Difficulty::Solved);
        assert_eq!(Difficulty::of(None, b), Difficulty::Unestimated);
    }
}
