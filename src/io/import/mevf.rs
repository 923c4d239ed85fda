//! VQA-RAD (MEVF split JSON) and SLAKE JSON: lists of question records that point at an image by
//! name. CLOSED yes/no questions become two-option items (`Yes`/`No`, or `是`/`否` for Chinese
//! SLAKE); every other question is imported as open-ended. Images that are not on disk (all of
//! SLAKE's, in the public copy) are imported as references flagged missing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::medvlm_r1::extra;
use super::{ImportError, ImportOptions, Location, Parsed, read_text, scalar_text};
use crate::domain::ImageRef;
use crate::domain::{Answer, Modality, Split, VqaItem};
use crate::io::images::ImageResolver;

fn load_array(path: &Path) -> Result<Vec<Value>, ImportError> {
    let text = read_text(path)?;
    let unusable = |reason: String| ImportError::Unusable { reason, path: path.to_path_buf() };
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| unusable(format!("invalid JSON at line {} column {} ({e})", e.line(), e.column())))?;
    match v {
        Value::Array(a) => Ok(a),
        _ => Err(unusable("expected a JSON array of records".into())),
    }
}

/// The split named by the file (`trainset.json`, `test.json`, `validate.json`), else train.
fn split_from_name(path: &Path, opts: &ImportOptions) -> Split {
    if let Some(s) = opts.split {
        return s;
    }
    let stem = path.file_stem().map(|s| s.to_string_lossy().to_lowercase()).unwrap_or_default();
    if stem.contains("test") {
        Split::Test
    } else if stem.contains("val") || stem.contains("dev") {
        Split::Val
    } else {
        Split::Train
    }
}

/// The first existing candidate among `<dir>/<sub>/<name>` for each sub-folder, then `<dir>/<name>`;
/// if none exists, the first candidate (reported as missing).
fn locate(dir: &Path, subs: &[&str], name: &str) -> PathBuf {
    let mut candidates: Vec<PathBuf> = subs.iter().map(|s| dir.join(s).join(name)).collect();
    candidates.push(dir.join(name));
    candidates.iter().find(|p| p.is_file()).cloned().unwrap_or_else(|| candidates[0].clone())
}

/// Yes/no answer pairs as `(positive, negative)`; SLAKE's Chinese closed answers use several.
const YES_NO: &[(&str, &str)] = &[
    ("Yes", "No"),
    ("是的", "不是"),
    ("是", "否"),
    ("包含", "不包含"),
    ("有", "没有"),
    ("可以", "不可以"),
    ("正常", "不正常"),
];

/// Options and answer for a closed yes/no answer: `(["Yes", "No"], 0)` for "yes".
fn yes_no_options(answer: &str) -> Option<(Vec<String>, usize)> {
    let a = answer.trim().trim_end_matches(['.', '。']).to_lowercase();
    YES_NO.iter().find_map(|(y, n)| {
        let idx = if a == y.to_lowercase() {
            0
        } else if a == n.to_lowercase() {
            1
        } else {
            return None;
        };
        Some((vec![(*y).to_string(), (*n).to_string()], idx))
    })
}

/// A yes/no answer as an option index into `[yes, no]`.
fn yes_no(answer: &str) -> Option<usize> {
    yes_no_options(answer).map(|(_, i)| i)
}

/// Options named in a closed question of the form "..., heart or lung?" / "... lung, liver or heart?",
/// kept only if the answer is one of them. Capitalised like the answer's first letter.
fn or_options(question: &str, answer: &str) -> Option<(Vec<String>, usize)> {
    let q = question.trim().trim_end_matches('?').trim();
    let segments: Vec<&str> = q.split(',').collect();
    let last = segments.last()?;
    let (head, tail) = last.rsplit_once(" or ")?;
    let mut opts: Vec<String> = Vec::new();
    // Earlier comma-separated segments that are short are further options ("image,lung,liver or heart").
    let earlier = &segments[..segments.len() - 1];
    let short = |s: &str| !s.trim().is_empty() && s.split_whitespace().count() <= 3;
    let n_earlier = earlier.iter().rev().take_while(|s| short(s)).count();
    opts.extend(earlier[earlier.len() - n_earlier..].iter().map(|s| s.trim().to_string()));
    let head_opt = if segments.len() > 1 { head.trim() } else { head.split_whitespace().last()? };
    if !short(head_opt) || !short(tail) {
        return None;
    }
    opts.push(head_opt.trim().to_string());
    opts.push(tail.trim().to_string());
    let cap = |s: &str| {
        let mut c = s.chars();
        c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
    };
    let opts: Vec<String> = opts.iter().map(|o| cap(o)).collect();
    let idx = opts.iter().position(|o| o.eq_ignore_ascii_case(answer.trim()))?;
    Some((opts, idx))
}

/// Options for a CLOSED question: yes/no pairs, else options named in the question. Returns
/// whether the options were inferred from the question text (worth a warning).
fn closed_options(question: &str, answer: &str) -> Option<(Vec<String>, usize, bool)> {
    if let Some((o, i)) = yes_no_options(answer) {
        return Some((o, i, false));
    }
    or_options(question, answer).map(|(o, i)| (o, i, true))
}

fn title_case(s: &str) -> String {
    match s.trim().to_uppercase().as_str() {
        "ABD" => "Abdomen".into(),
        other => {
            let lower = other.to_lowercase();
            let mut c = lower.chars();
            c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
        }
    }
}

/// VQA-RAD gives no modality field: infer each image's modality from the answers to its MODALITY
/// and PLANE questions ("What imaging modality was used?" -> "CT"; "Is this an MRI?" -> "Yes";
/// "What plane?" -> "PA"; "What contrast agent is used in this MRI?" -> the question's word) and
/// from any question that names it or uses a modality's own vocabulary ("... on this CT?",
/// "hyperintense", "T2 weighted"). An image all of whose questions are silent takes its organ's
/// modality where VQA-RAD's design fixes it (Lau et al. 2018: head CTs or MRIs, chest X-rays,
/// abdominal CTs), recorded in the item's `modality_inferred_from`; a head image stays `Other`.
fn infer_vqa_rad_modalities(records: &[Value]) -> HashMap<String, (Modality, &'static str)> {
    let mut votes: HashMap<String, BTreeMap<Modality, usize>> = HashMap::new();
    let mut organs: HashMap<String, String> = HashMap::new();
    for r in records {
        let (Some(img), Some(q), Some(a)) = (
            r.get("image_name").and_then(Value::as_str),
            r.get("question").and_then(Value::as_str),
            r.get("answer").and_then(scalar_text),
        ) else {
            continue;
        };
        if let Some(o) = r.get("image_organ").and_then(Value::as_str) {
            organs.insert(img.to_string(), o.trim().to_uppercase());
        }
        let qtype = r.get("question_type").and_then(Value::as_str).unwrap_or("").to_uppercase();
        // A MODALITY or PLANE question's answer counts double; any other question that presupposes
        // a modality ("... on this CT?", "Is the chest x-ray normal?") counts once.
        // "What type of imaging does this not represent?" -> "ultrasound" is evidence of nothing.
        let negated = q
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric() && c != '\'')
            .any(|w| w == "not" || w.ends_with("n't"));
        if negated {
            continue;
        }
        let (vote, weight) = if qtype.contains("MODALITY") || qtype.contains("PLANE") {
            let v = match yes_no(&a) {
                Some(0) => mentioned_modality(q),
                Some(_) => None,
                None => Modality::parse(&a)
                    .or_else(|| mentioned_modality(&a))
                    .or_else(|| projection(&a))
                    .or_else(|| mentioned_modality(q)),
            };
            (v, 2)
        } else {
            (mentioned_modality(q), 1)
        };
        if let Some(m) = vote {
            *votes.entry(img.to_string()).or_default().entry(m).or_default() += weight;
        }
    }
    let mut out: HashMap<String, (Modality, &'static str)> = votes
        .into_iter()
        .filter_map(|(img, v)| {
            v.into_iter().max_by_key(|(m, n)| (*n, std::cmp::Reverse(*m))).map(|(m, _)| (img, (m, "questions")))
        })
        .collect();
    for (img, organ) in organs {
        let by_design = match organ.as_str() {
            "CHEST" => Some(Modality::XRay),
            "ABD" => Some(Modality::Ct),
            _ => None,
        };
        if let Some(m) = by_design {
            out.entry(img).or_insert((m, "organ"));
        }
    }
    out
}

/// A modality named by a word in free text ("Is this a CT scan?", "t2 weighted mri"), or implied by
/// its own vocabulary (MRI signal "intensity", CT "density" in Hounsfield units).
fn mentioned_modality(text: &str) -> Option<Modality> {
    text.split(|c: char| !c.is_alphanumeric() && c != '-').find_map(|w| match w.to_lowercase().as_str() {
        "ct" | "cta" | "hounsfield" | "noncontrast" | "non-contrast" | "hyperdense" | "hypodense" | "hyperdensity"
        | "hypodensity" | "hyperattenuating" | "hypoattenuating" => Some(Modality::Ct),
        "mri" | "mr" | "flair" | "t1" | "t2" | "dwi" | "mra" | "adc" | "gadolinium" | "weighted" | "t1-weighted"
        | "t2-weighted" | "hyperintense" | "hypointense" | "hyperintensity" | "hypointensity" => Some(Modality::Mri),
        "x-ray" | "xray" | "radiograph" | "radiography" | "film" | "cxr" | "kub" => Some(Modality::XRay),
        "ultrasound" | "sonogram" => Some(Modality::Ultrasound),
        _ => None,
    })
}

/// A projection radiography answer to a PLANE question ("PA", "AP", "posteroanterior").
fn projection(answer: &str) -> Option<Modality> {
    matches!(answer.trim().to_lowercase().as_str(), "pa" | "ap" | "posteroanterior" | "anteroposterior" | "pa view")
        .then_some(Modality::XRay)
}

/// What VQA-RAD and SLAKE records share: the fields one record of either gives, read the same way.
struct Record {
    qid: String,
    image_name: String,
    img: ImageRef,
    question: String,
    options: Vec<String>,
    answer: Answer,
    meta: BTreeMap<String, Value>,
}

/// The dataset's own names: the image field, the folder its images sit in beside the JSON, the
/// fields kept out of `meta`, and the default source.
struct Schema {
    image_key: &'static str,
    folder: &'static str,
    known: &'static [&'static str],
    source: &'static str,
}

/// Reads one record's shared fields: CLOSED yes/no (or "A or B") questions become choices, the
/// raw answer kept in `meta` when the item shows it otherwise.
fn record(obj: &Map<String, Value>, schema: &Schema, dir: &Path, images: &mut ImageResolver) -> Result<Record, String> {
    let qid = obj.get("qid").and_then(scalar_text).ok_or("missing `qid`")?;
    let image_name = obj
        .get(schema.image_key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing `{}`", schema.image_key))?
        .to_string();
    let question = obj.get("question").and_then(Value::as_str).ok_or("missing `question`")?.trim().to_string();
    let raw_answer = obj.get("answer").and_then(scalar_text).ok_or("missing `answer`")?;
    let closed =
        obj.get("answer_type").and_then(Value::as_str).is_some_and(|t| t.trim().eq_ignore_ascii_case("CLOSED"));
    let img = images.resolve(&locate(dir, &[schema.folder], &image_name)).map_err(|e| e.to_string())?;
    let (options, answer, inferred) = match closed.then(|| closed_options(&question, &raw_answer)).flatten() {
        Some((o, i, inferred)) => (o, Answer::Choice(i), inferred),
        None => (vec![], Answer::Open(raw_answer.trim().to_string()), false),
    };
    let mut meta = extra(obj, schema.known);
    meta.insert("qid".into(), Value::from(qid.clone()));
    if inferred {
        meta.insert("options_inferred".into(), Value::Bool(true));
    }
    if raw_answer != answer_display(&options, &answer) {
        meta.insert("answer_raw".into(), Value::from(raw_answer));
    }
    Ok(Record { qid, image_name, img, question, options, answer, meta })
}

/// Every record of a JSON array file as an item: [`record`]'s fields, then `finish` adds the
/// dataset's own (modality, body part, tags).
fn parse_records(
    path: &Path,
    records: &[Value],
    opts: &ImportOptions,
    images: &mut ImageResolver,
    schema: &Schema,
    finish: impl Fn(&Map<String, Value>, &str, &mut VqaItem),
) -> Parsed {
    let split = split_from_name(path, opts);
    let dir = path.parent().unwrap_or(Path::new("."));
    let source = opts.source.clone().unwrap_or_else(|| schema.source.into());
    let mut out = Parsed::default();
    for (i, rec) in records.iter().enumerate() {
        let loc = Location::Index(i);
        let made = rec.as_object().ok_or_else(|| "record is not a JSON object".to_string()).and_then(|obj| {
            let r = record(obj, schema, dir, images)?;
            let mut item = VqaItem {
                uid: format!("{source}/{split}/{}", r.qid),
                images: vec![r.img],
                question: r.question,
                options: r.options,
                answer: r.answer,
                modality: Modality::Other,
                body_part: None,
                source: source.clone(),
                split,
                tags: opts.tags.clone(),
                meta: r.meta,
            };
            finish(obj, &r.image_name, &mut item);
            item.normalize_tags();
            Ok(item)
        });
        match made {
            Ok(item) => out.push(path, loc, item),
            Err(reason) => out.error(path, loc, reason),
        }
    }
    out
}

/// Parses a VQA-RAD (MEVF) JSON file. Images are looked up in `images/` beside it; each image's
/// modality is inferred from what its questions and answers say ([`infer_vqa_rad_modalities`]).
pub(super) fn parse_vqa_rad(
    path: &Path,
    opts: &ImportOptions,
    images: &mut ImageResolver,
) -> Result<Parsed, ImportError> {
    let schema = Schema {
        image_key: "image_name",
        folder: "images",
        known: &["qid", "image_name", "image_organ", "answer", "question"],
        source: "vqa-rad",
    };
    let records = load_array(path)?;
    let modalities = infer_vqa_rad_modalities(&records);
    Ok(parse_records(path, &records, opts, images, &schema, |obj, image_name, item| {
        if let Some(Value::String(t)) = item.meta.get_mut("answer_type") {
            *t = t.trim().to_string();
        }
        let (modality, from) = modalities.get(image_name).copied().unwrap_or((Modality::Other, "none"));
        item.modality = modality;
        item.meta.insert("modality_inferred_from".into(), Value::from(from));
        item.body_part = obj.get("image_organ").and_then(Value::as_str).map(title_case);
    }))
}

fn answer_display(options: &[String], answer: &Answer) -> String {
    match answer {
        Answer::Choice(i) => options.get(*i).cloned().unwrap_or_default(),
        Answer::Open(t) => t.clone(),
    }
}

/// Parses a SLAKE JSON file. Images are looked up in `imgs/` beside it; the public copy has none,
/// so every record is imported with its image flagged missing.
pub(super) fn parse_slake(
    path: &Path,
    opts: &ImportOptions,
    images: &mut ImageResolver,
) -> Result<Parsed, ImportError> {
    let schema = Schema {
        image_key: "img_name",
        folder: "imgs",
        known: &["qid", "img_name", "question", "answer", "modality", "location"],
        source: "slake",
    };
    Ok(parse_records(path, &load_array(path)?, opts, images, &schema, |obj, _, item| {
        if let Some(lang) = obj.get("q_lang").and_then(Value::as_str) {
            item.tags.push(format!("lang:{lang}"));
        }
        item.modality = Modality::parse(obj.get("modality").and_then(Value::as_str).unwrap_or("")).unwrap_or_default();
        item.body_part = obj.get("location").and_then(Value::as_str).map(str::to_string);
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_no_pairs_in_both_languages() {
        assert_eq!(yes_no_options("yes"), Some((vec!["Yes".into(), "No".into()], 0)));
        assert_eq!(yes_no_options(" No."), Some((vec!["Yes".into(), "No".into()], 1)));
        assert_eq!(yes_no_options("不包含"), Some((vec!["包含".into(), "不包含".into()], 1)));
        assert_eq!(yes_no_options("是的"), Some((vec!["是的".into(), "不是".into()], 0)));
        assert_eq!(yes_no_options("Maybe"), None);
    }

    #[test]
    fn choices_named_in_the_question() {
        let (o, i) = or_options("Which is the biggest in this image,lung,liver or heart?", "Lung").unwrap();
        assert_eq!(o, vec!["Lung", "Liver", "Heart"]);
        assert_eq!(i, 0);
        let (o, i) = or_options("Which organ is abnormal, heart or lung?", "Heart").unwrap();
        assert_eq!((o, i), (vec!["Heart".to_string(), "Lung".to_string()], 0));
        let (o, i) = or_options("Is this a T1 or T2 weighted image?", "T2").unwrap_or_default();
        assert!(o.is_empty() || o[i] == "T2");
        assert_eq!(or_options("Which organ is abnormal, heart or lung?", "Liver"), None);
    }

    #[test]
    fn negated_modality_questions_are_no_evidence() {
        let recs: Vec<Value> = serde_json::from_str(
            r#"[{"image_name":"a.jpg","question_type":"MODALITY","question":"What type of imaging does this not represent?","answer":"ultrasound"},
                {"image_name":"a.jpg","question_type":"PRES","question":"Is there a bleed on this CT?","answer":"no"},
                {"image_name":"b.jpg","question_type":"MODALITY","question":"Is this an MRI?","answer":"No"}]"#,
        )
        .unwrap();
        let m = infer_vqa_rad_modalities(&recs);
        assert_eq!(m.get("a.jpg"), Some(&(Modality::Ct, "questions")));
        assert_eq!(m.get("b.jpg"), None);
    }

    #[test]
    fn planes_vocabulary_and_the_organ_fill_in_silent_images() {
        let recs: Vec<Value> = serde_json::from_str(
            r#"[{"image_name":"p.jpg","image_organ":"HEAD","question_type":"PLANE","question":"What plane is this film?","answer":"PA"},
                {"image_name":"g.jpg","image_organ":"HEAD","question_type":"MODALITY","question":"What contrast agent is used in this MRI?","answer":"gadolinium"},
                {"image_name":"h.jpg","image_organ":"HEAD","question_type":"PRES","question":"Is the lesion hyperintense?","answer":"yes"},
                {"image_name":"c.jpg","image_organ":"CHEST","question_type":"PRES","question":"Is there a pneumothorax?","answer":"no"},
                {"image_name":"a.jpg","image_organ":"ABD","question_type":"PRES","question":"Is the bowel perforated?","answer":"no"},
                {"image_name":"s.jpg","image_organ":"HEAD","question_type":"PRES","question":"Is there a mass?","answer":"no"},
                {"image_name":"m.jpg","image_organ":"CHEST","question_type":"MODALITY","question":"Is this a MRI of the chest?","answer":"yes"}]"#,
        )
        .unwrap();
        let m = infer_vqa_rad_modalities(&recs);
        assert_eq!(m["p.jpg"], (Modality::XRay, "questions"));
        assert_eq!(m["g.jpg"], (Modality::Mri, "questions"));
        assert_eq!(m["h.jpg"], (Modality::Mri, "questions"));
        assert_eq!(m["c.jpg"], (Modality::XRay, "organ"));
        assert_eq!(m["a.jpg"], (Modality::Ct, "organ"));
        assert_eq!(m.get("s.jpg"), None, "a silent head image stays Other");
        assert_eq!(m["m.jpg"], (Modality::Mri, "questions"), "the question beats the organ");
    }

    #[test]
    fn modality_words() {
        assert_eq!(mentioned_modality("Is this a CT scan?"), Some(Modality::Ct));
        assert_eq!(mentioned_modality("t2 weighted MRI"), Some(Modality::Mri));
        assert_eq!(mentioned_modality("Is the lesion large?"), None);
    }
}
