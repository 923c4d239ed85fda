//! Templated reasoning traces for the synthetic sample items: what a careful reader would write,
//! derived from the item's recorded findings, ending in `<answer>L</answer>`. With `noise`, a trace
//! argues from fabricated findings for a wrong option instead (the warm start's deliberate
//! uncertainty, which gives GRPO groups with mixed rewards to learn from).

use crate::domain::{Modality, VqaItem, letter};
use crate::rng::Rng;
use crate::sample::phantom::{Findings, Lesion, Side};
use crate::sample::questions::{QuestionType, correct_option, findings_for};

fn number_word(n: usize) -> &'static str {
    ["no", "one", "two", "three", "four"][n.min(4)]
}

/// Recorded findings of a sample item (`meta.findings.lesions`) and its question kind.
pub fn item_findings(item: &VqaItem) -> Option<(QuestionType, Findings)> {
    let kind = QuestionType::parse(item.meta.get("question_type")?.as_str()?)?;
    let lesions: Vec<Lesion> = serde_json::from_value(item.meta.get("findings")?.get("lesions")?.clone()).ok()?;
    let body_part = item.body_part.clone().unwrap_or_default();
    Some((kind, Findings { modality: item.modality, body_part, lesions }))
}

fn describe(f: &Findings) -> String {
    let (what, organ) = match f.modality {
        Modality::Mri => ("an axial brain MRI", "brain tissues"),
        Modality::Ct => ("an axial chest CT", "lungs"),
        _ => ("a frontal chest X-ray", "lung fields"),
    };
    let mut s = format!("The image is {what}. ");
    if f.lesions.is_empty() {
        s.push_str(&format!("The {organ} look uniform: I see no focal lesion."));
        return s;
    }
    let n = f.lesions.len();
    s.push_str(&format!("I see {} focal lesion{}: ", number_word(n), if n == 1 { "" } else { "s" }));
    let parts: Vec<String> =
        f.lesions.iter().map(|l| format!("a {} one in the {}", l.size_class(), l.quadrant())).collect();
    s.push_str(&parts.join(" and "));
    s.push('.');
    s
}

fn option_word(n: usize) -> &'static str {
    ["None", "One", "Two", "Three"][n.min(3)]
}

/// The conclusion sentence and the option it leads to. With `wrong_rule`, a systematic reasoning
/// error is made where one applies (`None` otherwise): small spots dismissed as noise, only large
/// lesions counted, image left taken as the patient's left, quadrants named from the patient's
/// side, large lesions called small relative to the organ.
fn decide(kind: QuestionType, f: &Findings, wrong_rule: bool) -> Option<(String, String)> {
    let n = f.lesions.len();
    let all_small = n > 0 && f.lesions.iter().all(|l| l.size_class() == "small");
    let n_large = f.lesions.iter().filter(|l| l.size_class() == "large").count();
    let mirror = |q: &str| -> String {
        if q.ends_with("left") { q.replace("left", "right") } else { q.replace("right", "left") }
    };
    if !wrong_rule {
        return Some(match kind {
            QuestionType::Presence if n > 0 => ("So a lesion is present.".into(), "Yes".into()),
            QuestionType::Presence => ("So there is no lesion.".into(), "No".into()),
            QuestionType::Count => (format!("That makes {}.", number_word(n)), option_word(n).into()),
            QuestionType::Side => match f.common_side() {
                Some(Side::Left) => (
                    "The image right is the patient's left, so the lesion is on the patient's left.".into(),
                    "Left".into(),
                ),
                Some(Side::Right) => (
                    "The image left is the patient's right, so the lesion is on the patient's right.".into(),
                    "Right".into(),
                ),
                None => ("There are lesions on both sides of the patient.".into(), "Both sides".into()),
            },
            QuestionType::Quadrant => {
                let q = f.lesions.first().map_or("upper left", |l| l.quadrant());
                (format!("So it is in the {q} quadrant."), q.into())
            }
            QuestionType::Size => {
                let large = f.lesions.first().is_some_and(|l| l.size_class() == "large");
                let (w, o) = if large { ("large", "Large") } else { ("small", "Small") };
                (format!("It is {w}, so the answer is {o}."), o.into())
            }
            QuestionType::Modality => {
                (format!("This appearance is typical of {}.", f.modality.as_str()), f.modality.as_str().into())
            }
        });
    }
    match kind {
        QuestionType::Presence if all_small => {
            Some(("Spots this small are usually noise, so there is no lesion.".into(), "No".into()))
        }
        QuestionType::Count if n_large != n => Some((
            format!("Counting only the large ones, that makes {}.", number_word(n_large)),
            option_word(n_large).into(),
        )),
        QuestionType::Side => match f.common_side() {
            Some(Side::Left) => Some((
                "The image right is the patient's right, so the lesion is on the patient's right.".into(),
                "Right".into(),
            )),
            Some(Side::Right) => Some((
                "The image left is the patient's left, so the lesion is on the patient's left.".into(),
                "Left".into(),
            )),
            None => None,
        },
        QuestionType::Quadrant => {
            let q = mirror(f.lesions.first()?.quadrant());
            Some((format!("Seen from the patient, that is the {q} quadrant."), q))
        }
        QuestionType::Size if f.lesions.first().is_some_and(|l| l.size_class() == "large") => {
            Some(("Compared with the whole organ it is small, so the answer is Small.".into(), "Small".into()))
        }
        _ => None,
    }
}

/// Findings that support `target` (drawn at random; `None` if none found quickly).
fn fabricate(kind: QuestionType, modality: Modality, target: &str, rng: &mut Rng) -> Option<Findings> {
    for _ in 0..64 {
        let mut f = findings_for(rng, kind, modality);
        if kind == QuestionType::Modality {
            f.modality = Modality::parse(target)?;
        }
        if correct_option(kind, &f) == target {
            return Some(f);
        }
    }
    None
}

/// How a warm-start trace may go wrong.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TraceNoise {
    /// Probability of a systematic reasoning error (where one applies) after a correct description.
    pub rule: f32,
    /// Probability of arguing for a random wrong option from fabricated findings.
    pub random: f32,
}

/// A completion `<think>…</think><answer>L</answer>` for a sample item, and whether it argues for the key.
pub fn trace(item: &VqaItem, noise: TraceNoise, rng: &mut Rng) -> Option<(String, bool)> {
    let (kind, truth) = item_findings(item)?;
    let key = item.answer_letter()?;
    let mut findings = truth.clone();
    let mut decision = None;
    if rng.chance(noise.random) && item.options.len() > 1 {
        let wrong: Vec<&String> = item.options.iter().filter(|o| o.as_str() != item.answer_text()).collect();
        let target = wrong[rng.below(wrong.len())].clone();
        if let Some(f) = fabricate(kind, truth.modality, &target, rng) {
            decision = decide(kind, &f, false);
            findings = f;
        }
    } else if rng.chance(noise.rule) {
        decision = decide(kind, &truth, true);
    }
    let (conclusion, option) = match decision {
        Some(d) => d,
        None => {
            findings = truth.clone();
            decide(kind, &truth, false)?
        }
    };
    let idx = item.options.iter().position(|o| *o == option)?;
    let text = format!("<think>{} {conclusion}</think><answer>{}</answer>", describe(&findings), letter(idx));
    Some((text, letter(idx) == key))
}

/// The item as it would be if its image were mirrored left-right and/or up-down: lesion positions
/// move, and the key follows (side and quadrant answers change). `None` if the new key is not an option.
pub fn flipped(item: &VqaItem, horizontal: bool, vertical: bool, size: f32) -> Option<VqaItem> {
    let (kind, mut f) = item_findings(item)?;
    for l in &mut f.lesions {
        if horizontal {
            l.x = size - l.x;
        }
        if vertical {
            l.y = size - l.y;
        }
    }
    let key = correct_option(kind, &f);
    let idx = item.options.iter().position(|o| *o == key)?;
    let mut out = item.clone();
    out.answer = crate::domain::Answer::Choice(idx);
    out.meta.insert("findings".into(), serde_json::json!({ "lesions": f.lesions }));
    Some(out)
}

/// Mirrors an interleaved RGB image.
pub fn flip_rgb(rgb: &[u8], h: usize, w: usize, horizontal: bool, vertical: bool) -> Vec<u8> {
    let mut out = vec![0u8; rgb.len()];
    for y in 0..h {
        for x in 0..w {
            let (sy, sx) = (if vertical { h - 1 - y } else { y }, if horizontal { w - 1 - x } else { x });
            let (d, s) = ((y * w + x) * 3, (sy * w + sx) * 3);
            out[d..d + 3].copy_from_slice(&rgb[s..s + 3]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Answer, ImageRef, Split};

    fn item() -> VqaItem {
        let mut meta = std::collections::BTreeMap::new();
        meta.insert("question_type".into(), serde_json::json!("count"));
        meta.insert(
            "findings".into(),
            serde_json::json!({"lesions": [{"x": 30.0, "y": 30.0, "r": 3.0}, {"x": 80.0, "y": 70.0, "r": 7.0}]}),
        );
        VqaItem {
            uid: "s/1".into(),
            images: vec![ImageRef::missing("a.png")],
            question: "How many lesions are visible in this image?".into(),
            options: vec!["None".into(), "One".into(), "Two".into(), "Three".into()],
            answer: Answer::Choice(2),
            modality: Modality::Mri,
            body_part: Some("Brain".into()),
            source: "sample".into(),
            split: Split::Train,
            tags: vec![],
            meta,
        }
    }

    #[test]
    fn clean_traces_argue_for_the_key_in_the_reward_format() {
        let (t, ok) = trace(&item(), TraceNoise { rule: 0.0, random: 0.0 }, &mut Rng::new(1)).unwrap();
        assert!(ok);
        assert!(t.starts_with("<think>The image is an axial brain MRI. I see two"), "{t}");
        assert!(
            t.contains("I see two focal lesions: a small one in the upper left and a large one in the lower right."),
            "{t}"
        );
        assert!(t.ends_with("That makes two.</think><answer>C</answer>"), "{t}");
    }

    #[test]
    fn noisy_traces_argue_for_wrong_options_consistently() {
        let mut rng = Rng::new(2);
        let mut wrong = 0;
        for _ in 0..50 {
            let (t, ok) = trace(&item(), TraceNoise { rule: 0.0, random: 1.0 }, &mut rng).unwrap();
            if !ok {
                wrong += 1;
                assert!(!t.ends_with("<answer>C</answer>"), "{t}");
            }
        }
        assert!(wrong > 40);
        // The count rule error: with a small and a large lesion, "only the large ones" gives One.
        let (t, ok) = trace(&item(), TraceNoise { rule: 1.0, random: 0.0 }, &mut rng).unwrap();
        assert!(
            !ok && t.contains("Counting only the large ones, that makes one.") && t.ends_with("<answer>B</answer>"),
            "{t}"
        );
    }
}
