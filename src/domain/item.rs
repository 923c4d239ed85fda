//! VQA items: the pure data model shared by import, store, curation, training and review (no I/O, no UI).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The tag of items imported without a question (see [`VqaItem::is_draft`]).
pub const NEEDS_QUESTION_TAG: &str = "needs-question";

/// Most options a multiple-choice item may have (letters `A`..=`J`, as in MedVLM-R1's `create_problem_solution`).
pub const MAX_OPTIONS: usize = 10;

/// The option letter for a 0-based index (`0 -> 'A'`). Indices past `J` are clamped to `J`.
pub fn letter(index: usize) -> char {
    let i = index.min(MAX_OPTIONS - 1) as u8;
    char::from(b'A' + i)
}

/// The 0-based index of an option letter (`'A'`/`'a'` -> 0); `None` outside `A`..=`J`.
pub fn letter_index(letter: char) -> Option<usize> {
    let up = letter.to_ascii_uppercase();
    ('A'..='J').contains(&up).then(|| (up as u8 - b'A') as usize)
}

/// Imaging modality of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub enum Modality {
    /// Magnetic resonance imaging.
    #[serde(rename = "MRI")]
    Mri,
    /// Computed tomography.
    #[serde(rename = "CT")]
    Ct,
    /// Plain radiography.
    #[serde(rename = "X-ray")]
    XRay,
    /// Ultrasound.
    #[serde(rename = "Ultrasound")]
    Ultrasound,
    /// Pathology / microscopy.
    #[serde(rename = "Pathology")]
    Pathology,
    /// Anything else or unknown.
    #[serde(rename = "Other")]
    #[default]
    Other,
}

impl Modality {
    /// Every modality, in display order.
    pub const ALL: [Modality; 6] = [Self::Mri, Self::Ct, Self::XRay, Self::Ultrasound, Self::Pathology, Self::Other];

    /// The canonical display and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mri => "MRI",
            Self::Ct => "CT",
            Self::XRay => "X-ray",
            Self::Ultrasound => "Ultrasound",
            Self::Pathology => "Pathology",
            Self::Other => "Other",
        }
    }

    /// Parses the many spellings found in public datasets, including the exact HuatuoGPT-Vision
    /// `subset` strings (`"MR (Mag-netic Resonance Imaging)"`, `"CT(Computed Tomography)"`, `"X-Ray"`).
    /// Returns `None` when the text names no known modality.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim().to_ascii_lowercase();
        let compact: String = t.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        let has = |s: &str| compact.contains(s);
        if compact.is_empty() {
            return None;
        }
        if compact == "mr" || compact == "mri" || has("magnetic") || has("mrimaging") || has("flair") {
            return Some(Self::Mri);
        }
        if compact == "ct" || has("computedtomography") || compact.starts_with("ct") && compact.len() <= 6 {
            return Some(Self::Ct);
        }
        if has("xray") || has("radiograph") || has("plainfilm") || compact == "cr" || compact == "dx" || has("cxr") {
            return Some(Self::XRay);
        }
        if compact == "us" || has("ultrasound") || has("sonograph") || has("echocardiog") {
            return Some(Self::Ultrasound);
        }
        if has("patholog") || has("histolog") || has("microscop") || has("cytolog") {
            return Some(Self::Pathology);
        }
        if compact == "other" {
            return Some(Self::Other);
        }
        None
    }
}

impl fmt::Display for Modality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Dataset split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training data.
    #[default]
    Train,
    /// Validation data.
    Val,
    /// Held-out test data.
    Test,
}

impl Split {
    /// Every split, in display order.
    pub const ALL: [Split; 3] = [Self::Train, Self::Val, Self::Test];

    /// Storage name (`train`, `val`, `test`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Val => "val",
            Self::Test => "test",
        }
    }

    /// Parses `train`/`val`/`validation`/`valid`/`dev`/`test` (case-insensitive).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "train" | "training" => Some(Self::Train),
            "val" | "valid" | "validation" | "dev" => Some(Self::Val),
            "test" | "testing" | "eval" => Some(Self::Test),
            _ => None,
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The key of an item: a multiple-choice letter or, for open-ended questions, the reference text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Answer {
    /// Index into [`VqaItem::options`] (0 = `A`).
    Choice(usize),
    /// Free-text reference answer (VQA-RAD / SLAKE OPEN questions).
    Open(String),
}

impl Answer {
    /// The letter for a choice, `None` for open-ended answers.
    pub fn letter(&self) -> Option<char> {
        match self {
            Self::Choice(i) => Some(letter(*i)),
            Self::Open(_) => None,
        }
    }
}

/// One image an item refers to, as stored in the project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ImageRef {
    /// Path as stored: relative to the project file's folder where possible, else absolute.
    pub path: String,
    /// Hex SHA-256 of the file content; `None` when the file is missing.
    pub sha256: Option<String>,
    /// File size in bytes.
    pub bytes: Option<u64>,
    /// Pixel width, when the header could be read.
    pub width: Option<u32>,
    /// Pixel height, when the header could be read.
    pub height: Option<u32>,
    /// Why the file cannot be used although it exists (it does not decode, a truncated JPEG, ...);
    /// every job skips such an item and names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
    /// Regions blacked out of this image (burned-in text), `[x0, y0, x1, y1]` in its pixels with
    /// x1 and y1 exclusive; a de-identified DICOM copy of its source blacks out the same.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redacted: Vec<[u32; 4]>,
}

impl ImageRef {
    /// A reference to a file that could not be found at import time.
    pub fn missing(path: impl Into<String>) -> Self {
        Self { path: path.into(), ..Self::default() }
    }

    /// True when the image file was not found (no content hash).
    pub fn is_missing(&self) -> bool {
        self.sha256.is_none()
    }

    /// True when a job cannot use the image: missing or unreadable.
    pub fn is_unusable(&self) -> bool {
        self.is_missing() || self.unreadable.is_some()
    }
}

/// A visual-question-answering item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VqaItem {
    /// Stable id, unique within a project (e.g. `vqa-rad/train/1`), kept across re-imports and exports.
    pub uid: String,
    /// Images in prompt order (usually one; may be empty for text-only items).
    pub images: Vec<ImageRef>,
    /// The question text (Unicode kept as is).
    pub question: String,
    /// Option texts; letter `A` is index 0. Empty for open-ended items.
    pub options: Vec<String>,
    /// The key.
    pub answer: Answer,
    /// Imaging modality.
    pub modality: Modality,
    /// Body part / region, free text (`HEAD`, `Chest`, ...).
    pub body_part: Option<String>,
    /// Source dataset tag (`vqa-rad`, `OmniMedVQA`, `sample`, ...).
    pub source: String,
    /// Dataset split.
    pub split: Split,
    /// Curator tags, sorted and unique.
    pub tags: Vec<String>,
    /// Free metadata carried over from the source record.
    pub meta: BTreeMap<String, serde_json::Value>,
}

/// Why an item is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItemError {
    /// The uid is empty.
    #[error("empty id")]
    EmptyUid,
    /// The question is empty.
    #[error("empty question")]
    EmptyQuestion,
    /// Too many options.
    #[error("{0} options; at most {MAX_OPTIONS} (A-J) are allowed")]
    TooManyOptions(usize),
    /// A multiple-choice item with fewer than two options.
    #[error("a multiple-choice item needs at least 2 options, found {0}")]
    TooFewOptions(usize),
    /// An option is empty.
    #[error("option {0} is empty")]
    EmptyOption(char),
    /// Two options have the same text.
    #[error("options {0} and {1} have the same text")]
    DuplicateOption(char, char),
    /// The answer letter is not one of the options.
    #[error("answer {0} is not one of the options A-{1}")]
    AnswerOutOfRange(char, char),
    /// An open-ended item with an empty reference answer.
    #[error("empty answer")]
    EmptyAnswer,
}

impl VqaItem {
    /// The answer letter, if multiple choice.
    pub fn answer_letter(&self) -> Option<char> {
        self.answer.letter()
    }

    /// The correct option's text, or the open-ended reference answer.
    pub fn answer_text(&self) -> &str {
        match &self.answer {
            Answer::Choice(i) => self.options.get(*i).map_or("", String::as_str),
            Answer::Open(text) => text,
        }
    }

    /// A text-only multiple-choice item with everything else at its default (modality `Other`,
    /// split `train`, no tags or metadata); callers set the rest with struct update syntax.
    pub fn choice(uid: &str, question: &str, options: &[&str], answer: usize) -> Self {
        Self {
            uid: uid.into(),
            images: vec![],
            question: question.into(),
            options: options.iter().map(|o| (*o).to_string()).collect(),
            answer: Answer::Choice(answer),
            modality: Modality::default(),
            body_part: None,
            source: String::new(),
            split: Split::default(),
            tags: vec![],
            meta: BTreeMap::new(),
        }
    }

    /// True for multiple-choice items.
    pub fn is_multiple_choice(&self) -> bool {
        matches!(self.answer, Answer::Choice(_))
    }

    /// Number of images whose file is missing.
    pub fn missing_images(&self) -> usize {
        self.images.iter().filter(|i| i.is_missing()).count()
    }

    /// Number of images that exist but cannot be used, with the first reason.
    pub fn unreadable_images(&self) -> (usize, Option<&str>) {
        let bad: Vec<&str> = self.images.iter().filter_map(|i| i.unreadable.as_deref()).collect();
        (bad.len(), bad.first().copied())
    }

    /// An item imported without a question (a scan for later authoring): stored, shown and
    /// edited, but skipped by training, evaluation and exports until its question is written.
    pub fn is_draft(&self) -> bool {
        self.question.trim().is_empty() && self.tags.iter().any(|t| t == NEEDS_QUESTION_TAG)
    }

    /// Normalises tags (trimmed, sorted, unique, non-empty); a written question clears
    /// `needs-question`.
    pub fn normalize_tags(&mut self) {
        if !self.question.trim().is_empty() {
            self.tags.retain(|t| t != NEEDS_QUESTION_TAG);
        }
        for t in &mut self.tags {
            *t = t.trim().to_string();
        }
        self.tags.retain(|t| !t.is_empty());
        self.tags.sort();
        self.tags.dedup();
    }

    /// Checks the invariants every stored item satisfies.
    ///
    /// # Errors
    /// The first violated rule.
    pub fn validate(&self) -> Result<(), ItemError> {
        if self.uid.trim().is_empty() {
            return Err(ItemError::EmptyUid);
        }
        if self.is_draft() {
            return Ok(());
        }
        if self.question.trim().is_empty() {
            return Err(ItemError::EmptyQuestion);
        }
        if self.options.len() > MAX_OPTIONS {
            return Err(ItemError::TooManyOptions(self.options.len()));
        }
        for (i, opt) in self.options.iter().enumerate() {
            if opt.trim().is_empty() {
                return Err(ItemError::EmptyOption(letter(i)));
            }
            if let Some(j) = self.options[..i].iter().position(|o| o.trim() == opt.trim()) {
                return Err(ItemError::DuplicateOption(letter(j), letter(i)));
            }
        }
        match &self.answer {
            Answer::Choice(i) => {
                if self.options.len() < 2 {
                    return Err(ItemError::TooFewOptions(self.options.len()));
                }
                if *i >= self.options.len() {
                    return Err(ItemError::AnswerOutOfRange(letter(*i), letter(self.options.len() - 1)));
                }
            }
            Answer::Open(text) => {
                if text.trim().is_empty() {
                    return Err(ItemError::EmptyAnswer);
                }
            }
        }
        Ok(())
    }

    /// MedVLM-R1's `problem` string: the question, then one `"{L}) {option}"` line per option.
    pub fn problem_text(&self) -> String {
        let mut s = self.question.clone();
        for (i, opt) in self.options.iter().enumerate() {
            s.push('\n');
            s.push(letter(i));
            s.push_str(") ");
            s.push_str(opt);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn mcq() -> VqaItem {
        VqaItem {
            uid: "t/1".into(),
            images: vec![ImageRef::missing("a.png")],
            question: "What is apparent in this image?".into(),
            options: vec![
                "Hemorrhage".into(),
                "Acute infarct".into(),
                "Abscess formation".into(),
                "Chronic infarct".into(),
            ],
            answer: Answer::Choice(3),
            modality: Modality::Mri,
            body_part: None,
            source: "OmniMedVQA".into(),
            split: Split::Test,
            tags: vec![],
            meta: BTreeMap::new(),
        }
    }

    #[test]
    fn letters_round_trip() {
        for i in 0..MAX_OPTIONS {
            assert_eq!(letter_index(letter(i)), Some(i));
        }
        assert_eq!(letter_index('k'), None);
        assert_eq!(letter_index('c'), Some(2));
    }

    #[test]
    fn huatuo_subset_strings_map_to_modalities() {
        assert_eq!(Modality::parse("MR (Mag-netic Resonance Imaging)"), Some(Modality::Mri));
        assert_eq!(Modality::parse("CT(Computed Tomography)"), Some(Modality::Ct));
        assert_eq!(Modality::parse("X-Ray"), Some(Modality::XRay));
        assert_eq!(Modality::parse("Microscopy Images"), Some(Modality::Pathology));
        assert_eq!(Modality::parse("Ultrasound"), Some(Modality::Ultrasound));
        assert_eq!(Modality::parse("fundus photography"), None);
    }

    #[test]
    fn problem_text_matches_medvlm_r1() {
        assert_eq!(
            mcq().problem_text(),
            "What is apparent in this image?\nA) Hemorrhage\nB) Acute infarct\nC) Abscess formation\nD) Chronic infarct"
        );
        assert_eq!(mcq().answer_letter(), Some('D'));
    }

    #[test]
    fn validation_names_the_problem() {
        let mut it = mcq();
        assert_eq!(it.validate(), Ok(()));
        it.answer = Answer::Choice(4);
        assert_eq!(it.validate(), Err(ItemError::AnswerOutOfRange('E', 'D')));
        it.answer = Answer::Choice(0);
        it.options[2] = "Hemorrhage".into();
        assert_eq!(it.validate(), Err(ItemError::DuplicateOption('A', 'C')));
        it.options = vec!["Yes".into()];
        assert_eq!(it.validate(), Err(ItemError::TooFewOptions(1)));
    }
}
