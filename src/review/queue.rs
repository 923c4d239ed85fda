//! Review queues by rule, reproducible from a seed: all traces, only those whose answer is wrong,
//! and a random sample of a fixed size; of a run's training rollouts or of its checkpoint
//! evaluations' greedy outputs.

use serde::{Deserialize, Serialize};

/// Which traces a queue holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QueueRule {
    /// Only traces whose answer is wrong (or missing).
    pub only_wrong: bool,
    /// A random sample of at most this many (0: all), drawn with `seed`.
    pub sample: usize,
    /// Seed of the sample (the same seed gives the same queue).
    pub seed: u64,
    /// The greedy outputs of the run's evaluated checkpoints (test split) instead of its
    /// training rollouts.
    #[serde(default)]
    pub evaluations: bool,
}

impl QueueRule {
    /// A label for the header (`wrong answers, random 50 (seed 7)`).
    pub fn describe(&self) -> String {
        let mut parts = vec![
            match (self.evaluations, self.only_wrong) {
                (false, false) => "all traces",
                (false, true) => "wrong answers",
                (true, false) => "checkpoint evaluations",
                (true, true) => "checkpoint evaluations, wrong answers",
            }
            .to_string(),
        ];
        if self.sample > 0 {
            parts.push(format!("random {} (seed {})", self.sample, self.seed));
        }
        parts.join(", ")
    }

    /// The indices of `correct` (one flag per trace, in store order) that the queue holds, in
    /// review order: filtered, then sampled without replacement and kept in store order.
    pub fn select(&self, correct: &[bool]) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..correct.len()).filter(|&i| !(self.only_wrong && correct[i])).collect();
        if self.sample > 0 && idx.len() > self.sample {
            let mut rng = crate::rng::Rng::new(self.seed);
            rng.shuffle(&mut idx);
            idx.truncate(self.sample);
            idx.sort_unstable();
        }
        idx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_filter_and_sample_reproducibly() {
        let correct: Vec<bool> = (0..100).map(|i| i % 3 == 0).collect();
        assert_eq!(QueueRule::default().select(&correct).len(), 100);
        let wrong = QueueRule { only_wrong: true, ..Default::default() }.select(&correct);
        assert_eq!(wrong.len(), 66);
        assert!(wrong.iter().all(|&i| !correct[i]));
        let rule = QueueRule { only_wrong: true, sample: 10, seed: 7, evaluations: false };
        let a = rule.select(&correct);
        assert_eq!(a.len(), 10);
        assert_eq!(a, rule.select(&correct), "same seed, same queue");
        assert_ne!(a, QueueRule { seed: 8, ..rule }.select(&correct));
        assert!(a.windows(2).all(|w| w[0] < w[1]) && a.iter().all(|&i| !correct[i]));
        assert_eq!(rule.describe(), "wrong answers, random 10 (seed 7)");
    }
}
