//! Multiple-choice questions about a phantom's findings (2-4 options in a canonical order per
//! question type): lesion presence, count, side, quadrant, size and modality.

use serde::{Deserialize, Serialize};

use super::phantom::{Findings, Side, place_lesions};
use super::rng::Rng;
use crate::domain::Modality;

/// The kind of question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionType {
    /// Is there a lesion?
    Presence,
    /// How many lesions?
    Count,
    /// Which patient side?
    Side,
    /// Which image quadrant?
    Quadrant,
    /// Small or large?
    Size,
    /// Which modality?
    Modality,
}

impl QuestionType {
    /// Draws a question type with the sample set's mix.
    pub fn draw(rng: &mut Rng) -> Self {
        let x = rng.f32();
        match x {
            x if x < 0.30 => Self::Presence,
            x if x < 0.50 => Self::Count,
            x if x < 0.70 => Self::Side,
            x if x < 0.85 => Self::Quadrant,
            x if x < 0.95 => Self::Size,
            _ => Self::Modality,
        }
    }
}

/// A generated question with its options in display order and the correct index.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// The kind.
    pub kind: QuestionType,
    /// Question text.
    pub text: String,
    /// Options in display order.
    pub options: Vec<String>,
    /// Index of the correct option.
    pub answer: usize,
}

fn pick<'a>(rng: &mut Rng, v: &[&'a str]) -> &'a str {
    v[rng.below(v.len())]
}

/// Draws findings suited to the question type (e.g. one lesion for a quadrant question).
pub fn findings_for(rng: &mut Rng, kind: QuestionType, modality: Modality) -> Findings {
    let body_part = if modality == Modality::Mri { "Brain" } else { "Chest" }.to_string();
    let (count, side) = match kind {
        QuestionType::Presence => (if rng.chance(0.5) { 0 } else { 1 + rng.below(2) }, None),
        QuestionType::Count => (rng.below(4), None),
        QuestionType::Side => {
            if rng.chance(0.25) {
                (2, None) // may end up on both sides; the options then include "Both sides"
            } else {
                (1 + rng.below(2), Some(if rng.chance(0.5) { Side::Left } else { Side::Right }))
            }
        }
        QuestionType::Quadrant | QuestionType::Size => (1, None),
        QuestionType::Modality => (rng.below(3), None),
    };
    Findings { modality, body_part, lesions: place_lesions(rng, modality, count, side) }
}

/// The correct option text for a question kind given findings (what `ask` marks as the key).
pub fn correct_option(kind: QuestionType, f: &Findings) -> String {
    let n = f.lesions.len();
    match kind {
        QuestionType::Presence => if n > 0 { "Yes" } else { "No" }.into(),
        QuestionType::Count => ["None", "One", "Two", "Three"][n.min(3)].into(),
        QuestionType::Side => match f.common_side() {
            Some(Side::Left) => "Left".into(),
            Some(Side::Right) => "Right".into(),
            None => "Both sides".into(),
        },
        QuestionType::Quadrant => f.lesions.first().map_or("upper left", |l| l.quadrant()).into(),
        QuestionType::Size => {
            if f.lesions.first().is_some_and(|l| l.size_class() == "large") { "Large" } else { "Small" }.into()
        }
        QuestionType::Modality => f.modality.as_str().into(),
    }
}

impl QuestionType {
    /// Parses the `question_type` stored in sample item metadata.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "presence" => Some(Self::Presence),
            "count" => Some(Self::Count),
            "side" => Some(Self::Side),
            "quadrant" => Some(Self::Quadrant),
            "size" => Some(Self::Size),
            "modality" => Some(Self::Modality),
            _ => None,
        }
    }
}

/// Writes the question for `findings`.
pub fn ask(rng: &mut Rng, kind: QuestionType, f: &Findings) -> Question {
    let correct = correct_option(kind, f);
    let (text, mut options): (String, Vec<String>) = match kind {
        QuestionType::Presence => {
            let q = pick(
                rng,
                &[
                    "Is there a lesion in this image?",
                    "Is a focal lesion present in this image?",
                    "Does this image show an abnormal lesion?",
                ],
            );
            (q.into(), vec!["Yes".into(), "No".into()])
        }
        QuestionType::Count => {
            let q = pick(rng, &["How many lesions are visible in this image?", "How many focal lesions can be seen?"]);
            (q.into(), ["None", "One", "Two", "Three"].iter().map(|s| (*s).to_string()).collect())
        }
        QuestionType::Side => {
            let q = pick(
                rng,
                &["On which side of the patient is the lesion located?", "Which side of the patient is affected?"],
            );
            let mut opts = vec!["Left".to_string(), "Right".to_string()];
            if correct == "Both sides" || rng.chance(0.3) {
                opts.push("Both sides".into());
            }
            (q.into(), opts)
        }
        QuestionType::Quadrant => {
            let q = pick(
                rng,
                &["In which quadrant of the image is the lesion?", "Where in the image is the lesion located?"],
            );
            (
                q.into(),
                ["upper left", "upper right", "lower left", "lower right"].iter().map(|s| (*s).to_string()).collect(),
            )
        }
        QuestionType::Size => {
            let q = pick(rng, &["How large is the lesion?", "What is the size of the lesion?"]);
            (q.into(), vec!["Small".into(), "Large".into()])
        }
        QuestionType::Modality => {
            let q = pick(
                rng,
                &["What imaging modality is shown?", "Which imaging modality was used to acquire this image?"],
            );
            let mut others: Vec<&str> =
                ["MRI", "CT", "X-ray", "Ultrasound"].into_iter().filter(|m| *m != f.modality.as_str()).collect();
            rng.shuffle(&mut others);
            let k = 1 + rng.below(3); // 2-4 options in all
            let mut opts: Vec<String> = others[..k].iter().map(|s| (*s).to_string()).collect();
            opts.push(f.modality.as_str().to_string());
            (q.into(), opts)
        }
    };
    // Options keep a canonical order per question type (as many radiology benchmarks do), so the
    // letter of an answer is a property of the finding, not of a shuffle.
    if kind == QuestionType::Modality {
        let rank = |o: &String| ["MRI", "CT", "X-ray", "Ultrasound"].iter().position(|m| m == o).unwrap_or(9);
        options.sort_by_key(rank);
    }
    let answer = options.iter().position(|o| *o == correct).unwrap_or(0);
    Question { kind, text, options, answer }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_agree_with_findings() {
        let mut rng = Rng::new(11);
        for _ in 0..300 {
            let kind = QuestionType::draw(&mut rng);
            let m = [Modality::Mri, Modality::Ct, Modality::XRay][rng.below(3)];
            let f = findings_for(&mut rng, kind, m);
            let q = ask(&mut rng, kind, &f);
            assert!((2..=4).contains(&q.options.len()), "{q:?}");
            let a = &q.options[q.answer];
            match kind {
                QuestionType::Presence => assert_eq!(a == "Yes", !f.lesions.is_empty()),
                QuestionType::Count => assert_eq!(a, ["None", "One", "Two", "Three"][f.lesions.len()]),
                QuestionType::Modality => assert_eq!(a, m.as_str()),
                QuestionType::Quadrant => assert_eq!(a, f.lesions[0].quadrant()),
                _ => {}
            }
        }
    }
}
