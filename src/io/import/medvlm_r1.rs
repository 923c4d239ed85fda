//! MedVLM-R1 / HuatuoGPT-Vision evaluation JSON: a list of `{image: [...], question, options: [...],
//! answer: <option text>, dataset, subset}` records; `subset` names the modality with the exact
//! strings of the source bundle (`"MR (Mag-netic Resonance Imaging)"`, `"CT(Computed Tomography)"`, `"X-Ray"`).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use super::{ImportError, ImportOptions, Location, Parsed, image_path, read_text, scalar_text, short_hash};
use crate::domain::{Answer, Modality, Split, VqaItem, letter_index};
use crate::io::images::ImageResolver;

const KNOWN: &[&str] =
    &["image", "question", "options", "answer", "dataset", "subset", "split", "id", "problem", "solution"];

pub(super) fn parse(path: &Path, opts: &ImportOptions, images: &mut ImageResolver) -> Result<Parsed, ImportError> {
    let text = read_text(path)?;
    let unusable = |reason: String| ImportError::Unusable { reason, path: path.to_path_buf() };
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| unusable(format!("invalid JSON at line {} column {} ({e})", e.line(), e.column())))?;
    let records = v.as_array().ok_or_else(|| unusable("expected a JSON array of records".into()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = Parsed::default();
    for (i, rec) in records.iter().enumerate() {
        match record(rec, base, opts, images) {
            Ok(item) => out.push(path, Location::Index(i), item),
            Err(reason) => out.error(path, Location::Index(i), reason),
        }
    }
    Ok(out)
}

fn record(rec: &Value, base: &Path, opts: &ImportOptions, images: &mut ImageResolver) -> Result<VqaItem, String> {
    let obj = rec.as_object().ok_or("record is not a JSON object")?;
    let question = obj.get("question").and_then(Value::as_str).ok_or("missing `question` (string)")?.to_string();
    let options: Vec<String> = obj
        .get("options")
        .and_then(Value::as_array)
        .ok_or("missing `options` (list)")?
        .iter()
        .map(|o| scalar_text(o).map(|s| s.trim().to_string()))
        .collect::<Option<_>>()
        .ok_or("`options` must be a list of strings")?;
    let answer = obj.get("answer").and_then(scalar_text).ok_or("missing `answer`")?;
    let index = answer_index(&options, &answer, obj.get("solution").and_then(Value::as_str))
        .ok_or_else(|| format!("answer {answer:?} is not one of the options"))?;
    let image_list: Vec<String> = match obj.get("image") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or("`image` must be a list of paths")?,
        None | Some(Value::Null) => vec![],
        Some(_) => return Err("`image` must be a path or a list of paths".into()),
    };
    let mut refs = Vec::new();
    for img in &image_list {
        refs.push(images.resolve(&image_path(base, img)).map_err(|e| e.to_string())?);
    }
    let subset = obj.get("subset").and_then(Value::as_str).unwrap_or("");
    let source = opts
        .source
        .clone()
        .or_else(|| obj.get("dataset").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| "medvlm-r1".into());
    let split =
        opts.split.or_else(|| obj.get("split").and_then(Value::as_str).and_then(Split::parse)).unwrap_or(Split::Test);
    let id = obj.get("id").and_then(scalar_text);
    let uid = match id {
        Some(id) => format!("{source}/{id}"),
        None => format!(
            "{source}/{}",
            short_hash(&[image_list.first().map_or("", String::as_str), &question, &options.join("\u{1e}")])
        ),
    };
    let mut meta: BTreeMap<String, Value> = extra(obj, KNOWN);
    if !subset.is_empty() {
        meta.insert("subset".into(), Value::from(subset));
    }
    Ok(VqaItem {
        uid,
        images: refs,
        question,
        options,
        answer: Answer::Choice(index),
        modality: Modality::parse(subset).unwrap_or_default(),
        body_part: None,
        source,
        split,
        tags: opts.tags.clone(),
        meta,
    })
}

/// The index of the answer among the options: exact text, then trimmed case-insensitive text,
/// then MedVLM-R1's `solution` letter.
pub(super) fn answer_index(options: &[String], answer: &str, solution: Option<&str>) -> Option<usize> {
    options
        .iter()
        .position(|o| o == answer)
        .or_else(|| options.iter().position(|o| o.trim().eq_ignore_ascii_case(answer.trim())))
        .or_else(|| {
            let s = solution?.trim();
            let mut chars = s.chars();
            let (c, rest) = (chars.next()?, chars.next());
            if rest.is_some() {
                return None;
            }
            letter_index(c).filter(|&i| i < options.len())
        })
}

/// Every key not in `known`, for the item's free metadata.
pub(super) fn extra(obj: &Map<String, Value>, known: &[&str]) -> BTreeMap<String, Value> {
    obj.iter().filter(|(k, _)| !known.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect()
}
