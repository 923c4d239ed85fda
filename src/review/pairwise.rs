//! Blind pairwise comparison of two checkpoints (Chatbot-Arena style, as RLHF preference tools
//! do it): for each item the run sampled at two or more steps, its trace at the earliest step (A)
//! against its trace at the latest step (B), shown left/right in a seeded random order and in a
//! seeded random item order, with neither step nor reward shown. A judgment stores the choice in
//! A/B terms; the tally is the later checkpoint's win rate (ties count half) with a two-sided sign
//! test over the decided pairs.

use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// One rollout a pair can show: its id, item and step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Rollout row id.
    pub rollout: i64,
    /// Item row id.
    pub item: i64,
    /// Training step that sampled it.
    pub step: i64,
}

/// Two traces of one item to compare blind. Their ids are `rollouts.id`, or the negated
/// `eval_results` rowid for a checkpoint evaluation's greedy output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    /// Item row id.
    pub item: i64,
    /// The earlier checkpoint's rollout and step.
    pub a: (i64, i64),
    /// The later checkpoint's rollout and step.
    pub b: (i64, i64),
    /// A is shown on the left.
    pub a_left: bool,
}

/// Which side the reviewer preferred, in checkpoint terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Choice {
    /// The earlier checkpoint's trace.
    A,
    /// The later checkpoint's trace.
    B,
    /// Neither.
    Tie,
}

impl Choice {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::A => "a",
            Self::B => "b",
            Self::Tie => "tie",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "a" => Some(Self::A),
            "b" => Some(Self::B),
            "tie" => Some(Self::Tie),
            _ => None,
        }
    }

    /// The choice of the left (`true`) or right side of `pair`, or a tie (`None`).
    pub fn of_side(pair: &Pair, left: Option<bool>) -> Self {
        match left {
            None => Self::Tie,
            Some(l) if l == pair.a_left => Self::A,
            Some(_) => Self::B,
        }
    }
}

/// The pairs of a run's rollouts: per item the first rollout (lowest sample) of its earliest and
/// of its latest step, for items sampled at two steps or more; shuffled and sided by `seed`.
pub fn pairs(candidates: &[Candidate], seed: u64) -> Vec<Pair> {
    let mut by_item: std::collections::BTreeMap<i64, (Candidate, Candidate)> = std::collections::BTreeMap::new();
    for c in candidates {
        let e = by_item.entry(c.item).or_insert((*c, *c));
        if (c.step, c.rollout) < (e.0.step, e.0.rollout) {
            e.0 = *c;
        }
        if c.step > e.1.step || (c.step == e.1.step && c.rollout < e.1.rollout) {
            e.1 = *c;
        }
    }
    let mut rng = Rng::derive(seed, 0xAB);
    let mut out: Vec<Pair> = by_item
        .into_iter()
        .filter(|(_, (a, b))| a.step < b.step)
        .map(|(item, (a, b))| Pair { item, a: (a.rollout, a.step), b: (b.rollout, b.step), a_left: false })
        .collect();
    // A seeded order, then a coin per pair for its sides.
    rng.shuffle(&mut out);
    for p in &mut out {
        p.a_left = rng.next_u64() & 1 == 1;
    }
    out
}

/// A reviewer's judgment of a pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgment {
    /// Store id (0 before it is stored).
    pub id: i64,
    /// The run whose checkpoints are compared.
    pub run: i64,
    /// The pair as shown.
    pub pair: Pair,
    /// The preferred checkpoint.
    pub choice: Choice,
    /// Who judged.
    pub reviewer: String,
    /// Seconds from showing the pair to the choice.
    pub seconds: f64,
    /// Guideline version in force.
    pub guideline_version: Option<i64>,
}

/// Judgments of one comparison, counted.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Tally {
    /// The earlier checkpoint preferred.
    pub a: usize,
    /// The later checkpoint preferred.
    pub b: usize,
    /// Ties.
    pub ties: usize,
}

impl Tally {
    /// Counts `choices`.
    pub fn of(choices: impl IntoIterator<Item = Choice>) -> Self {
        let mut t = Self::default();
        for c in choices {
            t.add(c);
        }
        t
    }

    /// Counts one more judgment.
    pub fn add(&mut self, c: Choice) {
        match c {
            Choice::A => self.a += 1,
            Choice::B => self.b += 1,
            Choice::Tie => self.ties += 1,
        }
    }

    /// The later checkpoint's win rate, ties counting half (`None` before any judgment).
    pub fn b_win_rate(&self) -> Option<f64> {
        let n = self.a + self.b + self.ties;
        (n > 0).then(|| (self.b as f64 + self.ties as f64 / 2.0) / n as f64)
    }

    /// Two-sided exact sign test over the decided pairs (ties dropped): the probability of a
    /// split at least this uneven if both checkpoints were equally good.
    pub fn sign_test_p(&self) -> f64 {
        let n = self.a + self.b;
        if n == 0 {
            return 1.0;
        }
        let k = self.a.min(self.b);
        // P(X <= k) for X ~ Binomial(n, 1/2), doubled, at most 1.
        let mut term = 0.5f64.powi(n as i32);
        let mut cdf = term;
        for i in 0..k {
            term *= (n - i) as f64 / (i + 1) as f64;
            cdf += term;
        }
        (2.0 * cdf).min(1.0)
    }

    /// One line: `later checkpoint preferred 7 of 10 (2 ties), win rate 0.80, sign test p = 0.07`.
    pub fn describe(&self) -> String {
        let n = self.a + self.b + self.ties;
        match self.b_win_rate() {
            None => "no pairs judged yet".into(),
            Some(w) => format!(
                "later checkpoint preferred {} of {n}, earlier {} ({} ties); win rate {w:.2}, sign test p = {:.3}",
                self.b,
                self.a,
                self.ties,
                self.sign_test_p()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(rollout: i64, item: i64, step: i64) -> Candidate {
        Candidate { rollout, item, step }
    }

    #[test]
    fn pairs_take_each_items_first_and_last_step_in_a_seeded_order() {
        let cands =
            [c(1, 10, 1), c(2, 10, 1), c(3, 10, 5), c(4, 10, 9), c(5, 11, 2), c(6, 12, 3), c(7, 12, 8), c(8, 12, 8)];
        let p = pairs(&cands, 7);
        assert_eq!(p.len(), 2, "item 11 has one step only");
        let p10 = p.iter().find(|p| p.item == 10).unwrap();
        assert_eq!((p10.a, p10.b), ((1, 1), (4, 9)));
        let p12 = p.iter().find(|p| p.item == 12).unwrap();
        assert_eq!((p12.a, p12.b), ((6, 3), (7, 8)));
        assert_eq!(pairs(&cands, 7), p, "the same seed gives the same order and sides");
        let many: Vec<Candidate> = (0..200).flat_map(|i| [c(2 * i, i, 1), c(2 * i + 1, i, 2)]).collect();
        let sides: usize = pairs(&many, 1).iter().filter(|p| p.a_left).count();
        assert!((70..130).contains(&sides), "sides are random: {sides} of 200 left");
    }

    #[test]
    fn choices_map_sides_to_checkpoints_and_the_tally_tests_them() {
        let p = Pair { item: 1, a: (1, 1), b: (2, 9), a_left: false };
        assert_eq!(Choice::of_side(&p, Some(true)), Choice::B);
        assert_eq!(Choice::of_side(&p, Some(false)), Choice::A);
        assert_eq!(Choice::of_side(&p, None), Choice::Tie);
        let t = Tally::of([Choice::B; 9].into_iter().chain([Choice::A, Choice::Tie]));
        assert_eq!((t.a, t.b, t.ties), (1, 9, 1));
        assert!((t.b_win_rate().unwrap() - 9.5 / 11.0).abs() < 1e-12);
        // 9 vs 1: P = 2 * (1 + 10) / 1024.
        assert!((t.sign_test_p() - 22.0 / 1024.0).abs() < 1e-12);
        assert_eq!(Tally::of([Choice::A, Choice::B]).sign_test_p(), 1.0);
        assert!(t.describe().contains("9 of 11"));
        for c in [Choice::A, Choice::B, Choice::Tie] {
            assert_eq!(Choice::parse(c.as_str()), Some(c));
        }
    }
}
