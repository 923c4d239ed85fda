//! Declarative rewards a run adds to the built-in ones, written in its config (`[[custom_rewards]]`)
//! rather than in code: a regular expression, the answer being one of the options, a length
//! penalty, a keyword present or absent, each on the whole completion, its `<think>` or its
//! `<answer>`, with a weight. Each is logged as `rewards/<name>/mean` like the built-in rewards and
//! adds `weight × value` to the total; none of them counts toward correctness (pass counts).

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::item::{VqaItem, letter};

/// What a custom reward checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomKind {
    /// 1 when `pattern` matches somewhere in the text, else 0.
    Regex,
    /// 1 when the first `<answer>` names one of the item's options (its letter or its text), else 0.
    AnswerInOptions,
    /// 0 up to `max_chars` characters, then −(excess / `max_chars`), at least −1.
    LengthPenalty,
    /// 1 when any of `words` occurs as a whole word (case-insensitive), else 0; inverted by `absent`.
    Keyword,
}

/// The part of a completion a custom reward reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The whole completion.
    #[default]
    Completion,
    /// The text inside the first `<think>…</think>`.
    Think,
    /// The text inside the first `<answer>…</answer>`.
    Answer,
}

fn one() -> f32 {
    1.0
}

/// One declarative reward.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomReward {
    /// Its name in the metrics (`rewards/<name>/mean`): lower-case letters, digits and `_`.
    pub name: String,
    /// What it checks.
    pub kind: CustomKind,
    /// Weight in the total.
    #[serde(default = "one")]
    pub weight: f32,
    /// The text it reads.
    #[serde(default)]
    pub on: Target,
    /// `regex`: the pattern (Rust regex syntax; `(?i)` for case-insensitive, `(?s)` for `.` over lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// `keyword`: the words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<String>,
    /// `keyword`: reward the words' absence instead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub absent: bool,
    /// `length_penalty`: characters allowed before the penalty starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_chars: Option<usize>,
}

/// Names the built-in rewards and the pass-count flag use.
const RESERVED: [&str; 5] = ["format", "accuracy", "medvlthinker_accuracy", "open_match", "correct"];

impl CustomReward {
    /// The first problem, as `(field, reason)` with the field relative to this table.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        let name_ok = !self.name.is_empty()
            && self.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !name_ok {
            return Some(("name", format!("{:?}: use lower-case letters, digits and _", self.name)));
        }
        if RESERVED.contains(&self.name.as_str()) {
            return Some(("name", format!("{:?} is a built-in reward's name", self.name)));
        }
        if !self.weight.is_finite() {
            return Some(("weight", "must be a finite number".into()));
        }
        match self.kind {
            CustomKind::Regex => match &self.pattern {
                None => Some(("pattern", "needed for kind = \"regex\"".into())),
                Some(p) => Regex::new(p).err().map(|e| ("pattern", format!("not a valid regex: {e}"))),
            },
            CustomKind::Keyword if self.words.iter().all(|w| w.trim().is_empty()) => {
                Some(("words", "needs at least one word for kind = \"keyword\"".into()))
            }
            CustomKind::LengthPenalty if self.max_chars.is_none_or(|m| m == 0) => {
                Some(("max_chars", "needs a positive number for kind = \"length_penalty\"".into()))
            }
            _ => None,
        }
    }

    /// The reward of `completion` for `item` (0 when the config was never validated and is broken).
    pub fn score(&self, completion: &str, item: &VqaItem) -> f32 {
        let text = match self.on {
            Target::Completion => completion,
            Target::Think => tag_text(completion, "think").unwrap_or(""),
            Target::Answer => tag_text(completion, "answer").unwrap_or(""),
        };
        match self.kind {
            CustomKind::Regex => {
                let hit = self.pattern.as_deref().and_then(|p| Regex::new(p).ok()).is_some_and(|r| r.is_match(text));
                f32::from(u8::from(hit))
            }
            CustomKind::AnswerInOptions => {
                let answer = tag_text(completion, "answer").unwrap_or("").trim();
                f32::from(u8::from(names_an_option(answer, item)))
            }
            CustomKind::LengthPenalty => {
                let max = self.max_chars.unwrap_or(usize::MAX).max(1);
                let n = text.chars().count();
                if n <= max { 0.0 } else { -((n - max) as f32 / max as f32).min(1.0) }
            }
            CustomKind::Keyword => {
                let lower = text.to_lowercase();
                let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric() && c != '-').collect();
                let found = self.words.iter().any(|w| {
                    let w = w.trim().to_lowercase();
                    if w.contains(' ') { lower.contains(&w) } else { words.contains(&w.as_str()) }
                });
                f32::from(u8::from(found != self.absent))
            }
        }
    }
}

/// The text inside the first `<tag>…</tag>` (across lines).
fn tag_text<'a>(text: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&format!("</{tag}>"))?;
    Some(&text[start..start + end])
}

/// True when `answer` is an option's letter ("B", "B.", "(B)", "B: Large") or its text; for an
/// open question, any non-empty answer.
fn names_an_option(answer: &str, item: &VqaItem) -> bool {
    if item.options.is_empty() {
        return !answer.is_empty();
    }
    let head: String = answer.trim_start_matches('(').chars().take_while(char::is_ascii_alphabetic).collect();
    let rest = answer.trim_start_matches('(')[head.len()..].trim_start();
    let letter_only = head.len() == 1 && (rest.is_empty() || rest.starts_with([')', '.', ':']));
    (0..item.options.len()).any(|i| {
        (letter_only && head.eq_ignore_ascii_case(&letter(i).to_string()))
            || item.options[i].trim().eq_ignore_ascii_case(answer)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(kind: CustomKind) -> CustomReward {
        CustomReward {
            name: "x".into(),
            kind,
            weight: 1.0,
            on: Target::Completion,
            pattern: None,
            words: vec![],
            absent: false,
            max_chars: None,
        }
    }

    #[test]
    fn each_kind_scores_its_target() {
        let item = VqaItem::choice("u", "Which side?", &["Left", "Right"], 0);
        let c = "<think>The lesion is on the left.</think><answer>A</answer>";
        let re = CustomReward { pattern: Some(r"(?i)\bleft\b".into()), on: Target::Think, ..r(CustomKind::Regex) };
        assert_eq!(re.score(c, &item), 1.0);
        assert_eq!(CustomReward { on: Target::Answer, ..re.clone() }.score(c, &item), 0.0);
        assert_eq!(r(CustomKind::AnswerInOptions).score(c, &item), 1.0);
        assert_eq!(r(CustomKind::AnswerInOptions).score("<answer>right</answer>", &item), 1.0);
        assert_eq!(r(CustomKind::AnswerInOptions).score("<answer>C</answer>", &item), 0.0);
        assert_eq!(r(CustomKind::AnswerInOptions).score("<answer>Above</answer>", &item), 0.0);
        let len = CustomReward { max_chars: Some(20), ..r(CustomKind::LengthPenalty) };
        assert_eq!(len.score("short", &item), 0.0);
        assert_eq!(len.score(&"y".repeat(30), &item), -0.5);
        assert_eq!(len.score(&"y".repeat(100), &item), -1.0);
        let kw = CustomReward { words: vec!["left".into(), "right".into()], ..r(CustomKind::Keyword) };
        assert_eq!(kw.score(c, &item), 1.0);
        assert_eq!(CustomReward { absent: true, ..kw.clone() }.score(c, &item), 0.0);
        assert_eq!(kw.score("<think>leftover</think>", &item), 0.0, "whole words only");
    }

    #[test]
    fn problems_name_the_field() {
        assert_eq!(r(CustomKind::Regex).problem().unwrap().0, "pattern");
        let bad = CustomReward { pattern: Some("(".into()), ..r(CustomKind::Regex) };
        assert!(bad.problem().unwrap().1.contains("not a valid regex"));
        assert_eq!(r(CustomKind::Keyword).problem().unwrap().0, "words");
        assert_eq!(r(CustomKind::LengthPenalty).problem().unwrap().0, "max_chars");
        assert_eq!(
            CustomReward { name: "format".into(), ..r(CustomKind::AnswerInOptions) }.problem().unwrap().0,
            "name"
        );
        assert_eq!(
            CustomReward { name: "Bad Name".into(), ..r(CustomKind::AnswerInOptions) }.problem().unwrap().0,
            "name"
        );
        assert!(r(CustomKind::AnswerInOptions).problem().is_none());
    }
}
