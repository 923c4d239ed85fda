//! Reasoning traces as the seeds parse them: MedVLM-R1's format check (a full match of
//! `<think>.*?</think>\s*<answer>.*?</answer>`, DOTALL) and its strict evaluation parser
//! (`<answer>\s*([A-Z])\s*</answer>`, case-sensitive, first match); MedVLThinker's first-pass
//! extraction (first `<answer>`, DOTALL) and its regrade extraction (last `<answer>`, first line,
//! then `answer:` / `answer is:` / `answer is` / `is:` fallbacks).

use std::sync::LazyLock;

use regex::Regex;

static FORMAT: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?s)\A<think>.*?</think>\s*<answer>.*?</answer>\z").ok());
static STRICT: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"<answer>\s*([A-Z])\s*</answer>").ok());

/// MedVLM-R1 / MedVLThinker format check: the whole text is a think block then an answer block.
pub fn format_ok(text: &str) -> bool {
    FORMAT.as_ref().is_some_and(|r| r.is_match(text))
}

/// MedVLM-R1's evaluation parser: the capital letter in the first `<answer> X </answer>`.
pub fn strict_letter(text: &str) -> Option<char> {
    STRICT.as_ref().and_then(|r| r.captures(text)).and_then(|c| c.get(1)).and_then(|m| m.as_str().chars().next())
}

static FIRST_ANSWER: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"(?s)<answer>(.*?)</answer>").ok());
static FALLBACKS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [r"(?i)answer:\s*(.*)", r"(?i)answer is:\s*(.*)", r"(?i)answer is\s*(.*)", r"(?i)is:\s*(.*)"]
        .iter()
        .filter_map(|p| Regex::new(p).ok())
        .collect()
});

/// MedVLThinker's first-pass extraction: the first `<answer>…</answer>` (DOTALL), stripped, else the whole text.
pub fn first_pass_answer(text: &str) -> String {
    FIRST_ANSWER
        .as_ref()
        .and_then(|r| r.captures(text))
        .and_then(|c| c.get(1))
        .map_or(text, |m| m.as_str())
        .trim()
        .to_string()
}

/// MedVLThinker's regrade extraction (`analysis/regrade_eval_results.py`).
pub fn regrade_answer(text: &str) -> String {
    let found = FIRST_ANSWER
        .as_ref()
        .and_then(|r| r.captures_iter(text).last())
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().trim().lines().next().unwrap_or("").to_string())
        .or_else(|| {
            FALLBACKS
                .iter()
                .find_map(|re| re.captures_iter(text).last().and_then(|c| c.get(1)).map(|m| m.as_str().to_string()))
        })
        .unwrap_or_else(|| text.to_string());
    let mut s = found;
    for tag in ["<think>", "</think>", "<answer>", "</answer>"] {
        s = s.replace(tag, "");
    }
    s.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_is_a_full_match() {
        assert!(format_ok("<think>a\nb</think>\n<answer>B</answer>"));
        assert!(!format_ok(" <think>a</think><answer>B</answer>"));
        assert!(!format_ok("<think>a</think><answer>B</answer>\n"));
        assert!(!format_ok("<answer>B</answer>"));
    }

    #[test]
    fn medvlthinker_extractions() {
        assert_eq!(first_pass_answer("<think>x</think><answer>\nB. Left\n</answer>"), "B. Left");
        assert_eq!(first_pass_answer("no tags"), "no tags");
        assert_eq!(regrade_answer("<answer>A</answer> then <answer>C. yes\nmore</answer>"), "C. yes");
        assert_eq!(regrade_answer("I think the answer is: B"), "B");
        assert_eq!(regrade_answer("Final Answer: D. Cap Stage."), "D. Cap Stage.");
        assert_eq!(regrade_answer("<think>hmm</think> B"), "hmm B");
    }

    #[test]
    fn strict_parser() {
        assert_eq!(strict_letter("<think>x</think><answer> C </answer>"), Some('C'));
        assert_eq!(strict_letter("<answer>c</answer>"), None);
        assert_eq!(strict_letter("<answer>A)</answer>"), None);
    }
}
