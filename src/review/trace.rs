//! A trace as a clinician reads it: the `<think>` text, the extracted `<answer>`, and plain
//! statements of what breaks the expected format (missing tags, text outside the tags, several
//! answers), next to the seeds' own parsers in `domain::trace`.

use serde::Serialize;

/// What is wrong with a trace's format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Violation {
    /// No `<think>…</think>`.
    MissingThink,
    /// No `<answer>…</answer>`.
    MissingAnswer,
    /// An opening tag without its closing tag (the tag name).
    Unclosed(&'static str),
    /// Text outside the tags (the first 40 characters of it).
    TextOutside(String),
    /// More than one `<answer>` (how many).
    SeveralAnswers(usize),
    /// The answer comes before the reasoning.
    AnswerBeforeThink,
}

impl Violation {
    /// A plain sentence for the trace view.
    pub fn describe(&self) -> String {
        match self {
            Self::MissingThink => "no <think>…</think> reasoning".into(),
            Self::MissingAnswer => "no <answer>…</answer>".into(),
            Self::Unclosed(t) => format!("<{t}> is never closed"),
            Self::TextOutside(s) => format!("text outside the tags: \"{s}\""),
            Self::SeveralAnswers(n) => format!("{n} <answer> tags (the first one counts)"),
            Self::AnswerBeforeThink => "the answer comes before the reasoning".into(),
        }
    }
}

/// A parsed trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceView {
    /// The reasoning (first `<think>` block), trimmed.
    pub think: Option<String>,
    /// Every `<answer>` block's text, trimmed, in order.
    pub answers: Vec<String>,
    /// Format problems, empty for a well-formed trace.
    pub violations: Vec<Violation>,
}

/// `(start, end)` byte ranges of the `<tag>…</tag>` blocks, and whether one is left open.
fn blocks(text: &str, tag: &'static str) -> (Vec<(usize, usize, usize, usize)>, bool) {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(o) = text[at..].find(&open) {
        let start = at + o;
        let inner = start + open.len();
        match text[inner..].find(&close) {
            Some(c) => {
                let end = inner + c;
                out.push((start, inner, end, end + close.len()));
                at = end + close.len();
            }
            None => return (out, true),
        }
    }
    (out, false)
}

/// Parses a completion.
pub fn view(text: &str) -> TraceView {
    let (thinks, think_open) = blocks(text, "think");
    let (answers, answer_open) = blocks(text, "answer");
    let mut violations = Vec::new();
    if thinks.is_empty() && !think_open {
        violations.push(Violation::MissingThink);
    }
    if think_open {
        violations.push(Violation::Unclosed("think"));
    }
    if answers.is_empty() && !answer_open {
        violations.push(Violation::MissingAnswer);
    }
    if answer_open {
        violations.push(Violation::Unclosed("answer"));
    }
    if answers.len() > 1 {
        violations.push(Violation::SeveralAnswers(answers.len()));
    }
    if let (Some(t), Some(a)) = (thinks.first(), answers.first())
        && a.0 < t.0
    {
        violations.push(Violation::AnswerBeforeThink);
    }
    // Whatever is left after removing the complete blocks.
    let mut covered: Vec<(usize, usize)> = thinks.iter().chain(&answers).map(|b| (b.0, b.3)).collect();
    covered.sort_unstable();
    let mut outside = String::new();
    let mut at = 0;
    for (s, e) in covered {
        if s > at {
            outside.push_str(&text[at..s]);
        }
        at = at.max(e);
    }
    if !(think_open || answer_open) {
        outside.push_str(&text[at.min(text.len())..]);
    }
    let outside = outside.trim();
    let any_tag = !(thinks.is_empty() && answers.is_empty());
    if any_tag && !outside.is_empty() {
        violations.push(Violation::TextOutside(outside.chars().take(40).collect()));
    }
    TraceView {
        think: thinks.first().map(|b| text[b.1..b.2].trim().to_string()),
        answers: answers.iter().map(|b| text[b.1..b.2].trim().to_string()).collect(),
        violations,
    }
}

/// Whether an extracted answer names the key letter (its first character, any case).
pub fn names_key(answer: &str, key: char) -> bool {
    answer.trim().chars().next().is_some_and(|c| c.eq_ignore_ascii_case(&key))
}

/// Whether a trace's first answer is the item's key (the letter for a choice item, the
/// normalised text for an open one).
pub fn answered_right(completion: &str, item: &crate::domain::VqaItem) -> bool {
    let v = view(completion);
    let Some(a) = v.answers.first() else { return false };
    match (&item.answer, item.answer.letter()) {
        (_, Some(k)) => names_key(a, k),
        (crate::domain::Answer::Open(ans), None) => {
            crate::domain::reward::normalize_open(a) == crate::domain::reward::normalize_open(ans)
        }
        _ => false,
    }
}

/// How often each first answer was given over several traces of one item, most frequent first
/// (`"(none)"` for traces without an answer).
pub fn answer_histogram<'a>(traces: impl IntoIterator<Item = &'a str>) -> Vec<(String, usize)> {
    let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for t in traces {
        let a = view(t).answers.into_iter().next().unwrap_or_else(|| "(none)".into());
        *counts.entry(a).or_default() += 1;
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_traces_have_no_violations() {
        let v = view("<think>A bright spot on the left.</think>\n<answer>A</answer>");
        assert_eq!(v.think.as_deref(), Some("A bright spot on the left."));
        assert_eq!(v.answers, ["A"]);
        assert!(v.violations.is_empty(), "{:?}", v.violations);
    }

    #[test]
    fn answers_are_counted_most_frequent_first() {
        let h = answer_histogram([
            "<answer>B</answer>",
            "<think>x</think><answer>A</answer>",
            "no tags",
            "<answer>B</answer>",
        ]);
        assert_eq!(h, [("B".to_string(), 2), ("(none)".to_string(), 1), ("A".to_string(), 1)]);
    }

    #[test]
    fn each_violation_is_named() {
        assert_eq!(view("The answer is A").violations, [Violation::MissingThink, Violation::MissingAnswer]);
        assert_eq!(view("<think>x</think>").violations, [Violation::MissingAnswer]);
        assert_eq!(view("<think>x").violations, [Violation::Unclosed("think"), Violation::MissingAnswer]);
        assert_eq!(
            view("<think>x</think><answer>A</answer><answer>B</answer>").violations,
            [Violation::SeveralAnswers(2)]
        );
        assert_eq!(
            view("Sure! <think>x</think><answer>A</answer> Hope this helps").violations,
            [Violation::TextOutside("Sure!  Hope this helps".into())]
        );
        assert_eq!(view("<answer>A</answer><think>x</think>").violations, [Violation::AnswerBeforeThink]);
        assert!(Violation::SeveralAnswers(2).describe().contains("first one counts"));
    }
}
