//! Prompt templates, byte-exact with the seeds: MedVLM-R1's training template (8-space indent,
//! trailing spaces) and evaluation templates (4-space), MedVLThinker's instruction with its literal
//! backslash-n (`\n` as two characters) in the RL/eval and pass-rate variants, and custom templates.

use serde::{Deserialize, Serialize};

use super::item::{VqaItem, letter};

/// MedVLM-R1 `QUESTION_TEMPLATE` used in training (`grpo.py`).
pub const MEDVLM_R1_TRAIN: &str = "\n        {Question} \n        Your task: \n        1. Think through the question step by step, enclose your reasoning process in <think>...</think> tags. \n        2. Then provide the correct single-letter choice (A, B, C, D,...) inside <answer>...</answer> tags.\n        3. No extra information or text outside of these tags.\n        ";

/// MedVLM-R1 evaluation template `complex` (`test_qwen2vl_med.py`), used for its reported results.
pub const MEDVLM_R1_EVAL: &str = "\n    {Question} \n    Your task: \n    1. Think through the question step by step, enclose your reasoning process in <think>...</think> tags. \n    2. Then provide the correct single-letter choice (A, B, C, D,...) inside <answer>...</answer> tags.\n    3. No extra information or text outside of these tags.\n    ";

/// MedVLM-R1 evaluation template `simple`.
pub const MEDVLM_R1_EVAL_SIMPLE: &str =
    "\n    {Question} \n    Your task: provide the correct single-letter choice (A, B, C, D,...).\n    ";

/// MedVLThinker `INSTRUCTION_PROMPT` (a Python raw string: `\n` is a backslash and an `n`).
pub const MEDVLTHINKER_INSTRUCTION: &str = r"You will solve a problem/request. You should provide your thoughts within <think> </think> tags before providing the answer.\nWrite your final answer within <answer> </answer> tags.";

/// A prompt template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "template")]
pub enum PromptTemplate {
    /// MedVLM-R1 training template around the `problem` text.
    MedvlmR1Train,
    /// MedVLM-R1 evaluation (`complex`) template.
    MedvlmR1Eval,
    /// MedVLM-R1 evaluation (`simple`) template.
    MedvlmR1EvalSimple,
    /// MedVLThinker RL / evaluation prompt.
    Medvlthinker,
    /// MedVLThinker pass-rate estimation prompt (as run for difficulty curation).
    MedvlthinkerPassRate,
    /// A custom template with `{question}`, `{options}` (MedVLThinker style lines), `{problem}`
    /// (MedVLM-R1 style: question plus `A) ...` lines) placeholders.
    Custom(String),
}

impl PromptTemplate {
    /// CLI / config name.
    pub fn name(&self) -> &str {
        match self {
            Self::MedvlmR1Train => "medvlm-r1-train",
            Self::MedvlmR1Eval => "medvlm-r1-eval",
            Self::MedvlmR1EvalSimple => "medvlm-r1-eval-simple",
            Self::Medvlthinker => "medvlthinker",
            Self::MedvlthinkerPassRate => "medvlthinker-passrate",
            Self::Custom(_) => "custom",
        }
    }

    /// The built-in templates, in menu order.
    pub fn built_in() -> [Self; 5] {
        [
            Self::MedvlmR1Train,
            Self::MedvlmR1Eval,
            Self::MedvlmR1EvalSimple,
            Self::Medvlthinker,
            Self::MedvlthinkerPassRate,
        ]
    }

    /// Parses a built-in name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::built_in().into_iter().find(|t| t.name() == name)
    }

    /// The user-turn text for an item (images are added by the chat template, before the text).
    pub fn render(&self, item: &VqaItem) -> String {
        let options_lines: String =
            item.options.iter().enumerate().map(|(i, o)| format!("\n\n{}. {o}", letter(i))).collect();
        match self {
            Self::MedvlmR1Train => MEDVLM_R1_TRAIN.replace("{Question}", &item.problem_text()),
            Self::MedvlmR1Eval => MEDVLM_R1_EVAL.replace("{Question}", &item.problem_text()),
            Self::MedvlmR1EvalSimple => MEDVLM_R1_EVAL_SIMPLE.replace("{Question}", &item.problem_text()),
            Self::Medvlthinker => {
                format!("{MEDVLTHINKER_INSTRUCTION}\n\nQuestion: {}\n\nOptions:{options_lines}", item.question)
            }
            Self::MedvlthinkerPassRate => {
                format!(
                    "{MEDVLTHINKER_INSTRUCTION}{}\n\nQuestion: {}\nOptions:{options_lines}",
                    r" Here is the question:\n\n", item.question
                )
            }
            Self::Custom(t) => t
                .replace("{problem}", &item.problem_text())
                .replace("{question}", &item.question)
                .replace("{options}", &options_lines),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ImageRef, Modality, Split};

    fn item() -> VqaItem {
        VqaItem {
            images: vec![ImageRef::missing("a.png")],
            modality: Modality::XRay,
            source: "s".into(),
            split: Split::Test,
            ..VqaItem::choice("x", "Which side of lung is abnormal in this image?", &["Left", "Right"], 1)
        }
    }

    #[test]
    fn medvlm_r1_templates_keep_indent_and_trailing_spaces() {
        let t = PromptTemplate::MedvlmR1Train.render(&item());
        assert!(t.starts_with(
            "\n        Which side of lung is abnormal in this image?\nA) Left\nB) Right \n        Your task: \n"
        ));
        assert!(t.ends_with("outside of these tags.\n        "));
        let e = PromptTemplate::MedvlmR1Eval.render(&item());
        assert!(e.starts_with("\n    Which side"));
        assert!(e.contains("\n    2. Then provide"));
    }

    #[test]
    fn medvlthinker_prompt_has_a_literal_backslash_n() {
        let t = PromptTemplate::Medvlthinker.render(&item());
        assert_eq!(
            t,
            "You will solve a problem/request. You should provide your thoughts within <think> </think> tags before providing the answer.\\nWrite your final answer within <answer> </answer> tags.\n\nQuestion: Which side of lung is abnormal in this image?\n\nOptions:\n\nA. Left\n\nB. Right"
        );
        let p = PromptTemplate::MedvlthinkerPassRate.render(&item());
        assert!(p.contains("tags. Here is the question:\\n\\n\n\nQuestion: Which side of lung is abnormal in this image?\nOptions:\n\nA. Left"));
    }
}
