//! Rewards, exactly as the seeds compute them, plus open-ended matching:
//! - MedVLM-R1: `format` (full match of `<think>.*?</think>\s*<answer>.*?</answer>`, DOTALL) and
//!   `accuracy` (1 / 0.5 / 0 from the A–J letters in the first `<answer>`), summed;
//! - MedVLThinker: format-gated binary accuracy with `grade_answer` (first `<answer>` without DOTALL);
//! - open-ended (VQA-RAD OPEN): normalised exact match inside the first `<answer>`.
//!
//! Completions are the text decoded with special tokens removed.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::item::{Answer, VqaItem, letter};
use super::trace::format_ok;

static ANSWER_DOTALL: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"(?is)<answer>(.*?)</answer>").ok());
static ANSWER_LINE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"<answer>(.*?)</answer>").ok());

/// One reward function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardFn {
    /// MedVLM-R1 format reward (0 or 1).
    Format,
    /// MedVLM-R1 accuracy reward (0, 0.5 or 1).
    Accuracy,
    /// MedVLThinker reward: format-gated `grade_answer` (0 or 1).
    MedvlthinkerAccuracy,
    /// Open-ended normalised exact match (0 or 1); multiple-choice items fall back to `grade_answer`.
    OpenMatch,
}

impl RewardFn {
    /// The name used in metrics (`rewards/<name>/mean`) and configs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Format => "format",
            Self::Accuracy => "accuracy",
            Self::MedvlthinkerAccuracy => "medvlthinker_accuracy",
            Self::OpenMatch => "open_match",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Format, Self::Accuracy, Self::MedvlthinkerAccuracy, Self::OpenMatch].into_iter().find(|f| f.name() == s)
    }

    /// Scores a completion for an item.
    pub fn score(self, completion: &str, item: &VqaItem) -> f32 {
        match self {
            Self::Format => f32::from(u8::from(format_ok(completion))),
            Self::Accuracy => match item.answer_letter() {
                Some(l) => medvlm_r1_accuracy(completion, &l.to_string()),
                None => open_match(completion, item.answer_text()),
            },
            Self::MedvlthinkerAccuracy => {
                if !format_ok(completion) {
                    return 0.0;
                }
                match &item.answer {
                    Answer::Choice(i) => f32::from(u8::from(grade_answer(
                        &first_answer_line(completion),
                        item.answer_text(),
                        &letter(*i).to_string(),
                    ))),
                    Answer::Open(a) => open_match(completion, a),
                }
            }
            Self::OpenMatch => match &item.answer {
                Answer::Open(a) => open_match(completion, a),
                Answer::Choice(i) => f32::from(u8::from(grade_answer(
                    &first_answer_line(completion),
                    item.answer_text(),
                    &letter(*i).to_string(),
                ))),
            },
        }
    }
}

/// A weighted set of reward functions (the total is the weighted sum, as TRL's `reward_weights`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RewardSpec {
    /// `(function, weight)` pairs.
    pub terms: Vec<(RewardFn, f32)>,
    /// Declarative rewards from the run config (never correctness terms).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom: Vec<super::custom_reward::CustomReward>,
}

impl RewardSpec {
    /// MedVLM-R1: accuracy + format, weights 1.
    pub fn medvlm_r1() -> Self {
        Self { terms: vec![(RewardFn::Accuracy, 1.0), (RewardFn::Format, 1.0)], custom: vec![] }
    }

    /// MedVLThinker: the format-gated binary reward.
    pub fn medvlthinker() -> Self {
        Self { terms: vec![(RewardFn::MedvlthinkerAccuracy, 1.0)], custom: vec![] }
    }

    /// Whether a completion, scored into `parts` by [`Self::score`], counts as correct for difficulty
    /// estimation: every correctness term of the spec (all but `format`) scores 1. A spec with only
    /// `format` falls back to MedVLM-R1 accuracy.
    pub fn correct(&self, parts: &BTreeMap<String, f32>, completion: &str, item: &VqaItem) -> bool {
        self.correct_parts(parts).unwrap_or_else(|| RewardFn::Accuracy.score(completion, item) >= 1.0)
    }

    /// Correctness from per-function rewards as [`Self::score`] returns them: every correctness term
    /// (all but `format`) is 1. `None` when the spec has no correctness term.
    pub fn correct_parts(&self, parts: &BTreeMap<String, f32>) -> Option<bool> {
        let mut terms = self.terms.iter().filter(|(f, _)| *f != RewardFn::Format).peekable();
        terms.peek()?;
        Some(terms.all(|(f, _)| parts.get(f.name()).copied().unwrap_or(0.0) >= 1.0))
    }

    /// Each term's `(name, weight, value)` from `parts` ([`Self::score`]'s), in the spec's order,
    /// built-in terms first.
    pub fn breakdown(&self, parts: &BTreeMap<String, f32>) -> Vec<(String, f32, f32)> {
        let named = self.terms.iter().map(|(f, w)| (f.name().to_string(), *w));
        let custom = self.custom.iter().map(|c| (c.name.clone(), c.weight));
        named.chain(custom).map(|(n, w)| (n.clone(), w, parts.get(&n).copied().unwrap_or(0.0))).collect()
    }

    /// Scores every term, custom ones included; returns the per-function values and the weighted total.
    pub fn score(&self, completion: &str, item: &VqaItem) -> (BTreeMap<String, f32>, f32) {
        let mut parts = BTreeMap::new();
        let mut total = 0.0;
        for (f, w) in &self.terms {
            let v = f.score(completion, item);
            parts.insert(f.name().to_string(), v);
            total += w * v;
        }
        for c in &self.custom {
            let v = c.score(completion, item);
            parts.insert(c.name.clone(), v);
            total += c.weight * v;
        }
        (parts, total)
    }
}

/// MedVLM-R1 `accuracy_reward` for a ground-truth solution (a letter, possibly in `<answer>` tags).
pub fn medvlm_r1_accuracy(completion: &str, solution: &str) -> f32 {
    let gt = ANSWER_DOTALL
        .as_ref()
        .and_then(|r| r.captures(solution))
        .and_then(|c| c.get(1))
        .map_or(solution.trim(), |m| m.as_str());
    let gt: String = gt.to_uppercase().chars().filter(|c| !c.is_whitespace()).collect();
    let Some(student) = ANSWER_DOTALL.as_ref().and_then(|r| r.captures(completion)).and_then(|c| c.get(1)) else {
        return 0.0;
    };
    let student = student.as_str().trim();
    let upper = student.to_uppercase();
    let letters: Vec<char> = upper.chars().filter(|c| ('A'..='J').contains(c)).collect();
    if letters.len() != 1 || letters[0].to_string() != gt {
        return 0.0;
    }
    // Remove the first occurrence (case-insensitive); only whitespace left means a bare letter.
    let mut removed = false;
    let rest: String = student
        .chars()
        .filter(|c| {
            let hit = !removed && c.to_ascii_uppercase() == letters[0];
            removed |= hit;
            !hit
        })
        .collect();
    if rest.trim().is_empty() { 1.0 } else { 0.5 }
}

/// MedVLThinker's first-pass extraction: the first `<answer>…</answer>` on one line (no DOTALL),
/// else the whole text.
pub fn first_answer_line(completion: &str) -> String {
    ANSWER_LINE
        .as_ref()
        .and_then(|r| r.captures(completion))
        .and_then(|c| c.get(1))
        .map_or_else(|| completion.to_string(), |m| m.as_str().to_string())
}

/// MedVLThinker `grade_answer`: after `strip().lower()`, the prediction equals `"{label}. {answer}"`,
/// the label, or the answer text.
pub fn grade_answer(pred: &str, answer: &str, label: &str) -> bool {
    let p = pred.trim().to_lowercase();
    p == format!("{label}. {answer}").to_lowercase() || p == label.to_lowercase() || p == answer.to_lowercase()
}

/// Lower-case, drop punctuation, collapse whitespace (for open-ended answers).
pub fn normalize_open(s: &str) -> String {
    let cleaned: String =
        s.to_lowercase().chars().map(|c| if c.is_alphanumeric() || c.is_whitespace() { c } else { ' ' }).collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Open-ended reward: the first `<answer>` (or the whole text) matches the reference after normalisation.
pub fn open_match(completion: &str, reference: &str) -> f32 {
    let pred = ANSWER_DOTALL
        .as_ref()
        .and_then(|r| r.captures(completion))
        .and_then(|c| c.get(1))
        .map_or(completion, |m| m.as_str());
    let (p, r) = (normalize_open(pred), normalize_open(reference));
    f32::from(u8::from(!r.is_empty() && p == r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ImageRef, Modality, Split};

    fn item() -> VqaItem {
        VqaItem {
            images: vec![ImageRef::missing("a.png")],
            modality: Modality::Mri,
            source: "s".into(),
            split: Split::Test,
            ..VqaItem::choice("x", "What is seen?", &["Chondral abnormality", "Normal"], 0)
        }
    }

    /// The truth table of the seeds spec (gt `A`, answer text "Chondral abnormality").
    #[test]
    fn seeds_truth_table() {
        let cases: &[(&str, f32, f32, f32)] = &[
            ("<think>x</think><answer>A</answer>", 1.0, 1.0, 1.0),
            ("<think>x</think>\n<answer> a </answer>", 1.0, 1.0, 1.0),
            ("<think>x</think><answer>A)</answer>", 0.5, 1.0, 0.0),
            ("<think>x</think><answer>(A)</answer>", 0.5, 1.0, 0.0),
            ("<think>x</think><answer>A. Chondral abnormality</answer>", 0.0, 1.0, 1.0),
            ("<think>x</think><answer>Option A</answer>", 0.0, 1.0, 0.0),
            ("<think>x</think><answer>Chondral abnormality</answer>", 0.0, 1.0, 1.0),
            ("<answer>A</answer>", 1.0, 0.0, 0.0),
            ("<think>x</think><answer>A</answer>\n", 1.0, 0.0, 0.0),
            ("<think>x</think><answer>\nA\n</answer>", 1.0, 1.0, 0.0),
            ("<think>x</think><answer>A</answer><answer>B</answer>", 1.0, 1.0, 1.0),
        ];
        let it = item();
        for (c, acc, fmt, mvt) in cases {
            assert_eq!(RewardFn::Accuracy.score(c, &it), *acc, "accuracy {c:?}");
            assert_eq!(RewardFn::Format.score(c, &it), *fmt, "format {c:?}");
            assert_eq!(RewardFn::MedvlthinkerAccuracy.score(c, &it), *mvt, "medvlthinker {c:?}");
        }
        let (parts, total) = RewardSpec::medvlm_r1().score("<think>x</think><answer>A)</answer>", &it);
        assert_eq!((parts["accuracy"], parts["format"], total), (0.5, 1.0, 1.5));
    }

    #[test]
    fn more_cases() {
        let it = item();
        // Wrong letter, no answer, several letters.
        assert_eq!(RewardFn::Accuracy.score("<think>x</think><answer>B</answer>", &it), 0.0);
        assert_eq!(RewardFn::Accuracy.score("<think>x</think>", &it), 0.0);
        assert_eq!(RewardFn::Accuracy.score("<think>x</think><answer>A or B</answer>", &it), 0.0);
        // "BAD" has B, A, D -> several letters -> 0; a lower-case answer still counts.
        assert_eq!(medvlm_r1_accuracy("<answer>bad</answer>", "A"), 0.0);
        assert_eq!(medvlm_r1_accuracy("<answer> a</answer>", "<answer> A </answer>"), 1.0);
        // Open-ended answers.
        let mut open = item();
        open.options.clear();
        open.answer = Answer::Open("Right lower lobe.".into());
        assert_eq!(RewardFn::OpenMatch.score("<think>x</think><answer>right  lower LOBE</answer>", &open), 1.0);
        assert_eq!(RewardFn::OpenMatch.score("<think>x</think><answer>left lobe</answer>", &open), 0.0);
        assert_eq!(RewardFn::Accuracy.score("<answer>right lower lobe</answer>", &open), 1.0);
    }
}
