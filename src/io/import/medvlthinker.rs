//! MedVLThinker's unified schema as JSONL: `question`, `options` (a JSON-encoded dict `{"A": ...}`),
//! `answer_label`, `answer`, `dataset_name`, `dataset_index`, `images` (paths; none for text-only rows),
//! plus optional `reasoning`, `hash`, `misc`. The workbench's own JSONL export adds `uid`, `modality`,
//! `body_part`, `split`, `tags` and `meta`, which are read back so an export re-imports identically.

use std::path::Path;

use serde_json::{Map, Value};

use super::medvlm_r1::extra;
use super::{ImportError, ImportOptions, Location, Parsed, image_path, read_lines, scalar_text};
use crate::domain::{Answer, Modality, Split, VqaItem, letter, letter_index};
use crate::io::images::ImageResolver;

const KNOWN: &[&str] = &[
    "question",
    "pass_count",
    "pass_k",
    "options",
    "answer_label",
    "answer",
    "dataset_name",
    "dataset_index",
    "images",
    "image",
    "uid",
    "modality",
    "body_part",
    "split",
    "tags",
    "meta",
];

pub(super) fn parse(path: &Path, opts: &ImportOptions, images: &mut ImageResolver) -> Result<Parsed, ImportError> {
    let lines = read_lines(path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = Parsed::default();
    for (n, line) in lines {
        let loc = Location::Line(n);
        let line = match line {
            Ok(l) => l,
            Err(reason) => {
                out.error(path, loc, reason);
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let rec = match serde_json::from_str::<Value>(&line) {
            Ok(v) => v,
            Err(e) => {
                out.error(path, loc, format!("invalid JSON at column {} ({e})", e.column()));
                continue;
            }
        };
        match record(&rec, base, opts, images) {
            Ok(item) => out.push(path, loc, item),
            Err(reason) => out.error(path, loc, reason),
        }
    }
    Ok(out)
}

/// Options as `(letter, text)` pairs from a JSON-encoded dict string, a dict or a list.
fn options_of(v: &Value) -> Result<Vec<String>, String> {
    let decoded;
    let v = match v {
        Value::String(s) => {
            decoded =
                serde_json::from_str::<Value>(s).map_err(|e| format!("`options` is not a JSON-encoded dict ({e})"))?;
            &decoded
        }
        other => other,
    };
    match v {
        Value::Object(map) => {
            let mut pairs: Vec<(usize, String)> = Vec::new();
            for (k, val) in map {
                let mut chars = k.trim().chars();
                let idx = match (chars.next(), chars.next()) {
                    (Some(c), None) => letter_index(c),
                    _ => None,
                }
                .ok_or_else(|| format!("option key {k:?} is not a letter A-J"))?;
                pairs.push((idx, scalar_text(val).ok_or_else(|| format!("option {k} is not text"))?));
            }
            pairs.sort_by_key(|(i, _)| *i);
            for (pos, (i, _)) in pairs.iter().enumerate() {
                if *i != pos {
                    return Err(format!("option letters are not contiguous from A (missing {})", letter(pos)));
                }
            }
            Ok(pairs.into_iter().map(|(_, t)| t).collect())
        }
        Value::Array(a) => a
            .iter()
            .map(|x| scalar_text(x).ok_or_else(|| "`options` list holds a non-text value".to_string()))
            .collect(),
        Value::Null => Ok(vec![]),
        _ => Err("`options` must be a dict of letter -> text".into()),
    }
}

fn image_list(obj: &Map<String, Value>) -> Result<Vec<String>, String> {
    let v = obj.get("images").or_else(|| obj.get("image"));
    let one = |x: &Value| -> Result<String, String> {
        match x {
            Value::String(s) => Ok(s.clone()),
            Value::Object(o) => o.get("path").and_then(Value::as_str).map(str::to_string).ok_or_else(|| {
                "an image object without a `path` (embedded bytes need the Parquet importer)".to_string()
            }),
            _ => Err("`images` must hold paths".into()),
        }
    };
    match v {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(a)) => a.iter().map(one).collect(),
        Some(x) => Ok(vec![one(x)?]),
    }
}

pub(super) fn record(
    rec: &Value,
    base: &Path,
    opts: &ImportOptions,
    images: &mut ImageResolver,
) -> Result<VqaItem, String> {
    let obj = rec.as_object().ok_or("line is not a JSON object")?;
    let question = obj.get("question").and_then(Value::as_str).ok_or("missing `question` (string)")?.to_string();
    let options = options_of(obj.get("options").ok_or("missing `options`")?)?;
    let answer_text = obj.get("answer").and_then(scalar_text);
    let label = obj.get("answer_label").and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    let answer = if options.is_empty() {
        Answer::Open(answer_text.ok_or("missing `answer`")?)
    } else {
        let label = label.ok_or("missing `answer_label`")?;
        let mut chars = label.chars();
        let idx = match (chars.next(), chars.next()) {
            (Some(c), None) => letter_index(c),
            _ => None,
        }
        .ok_or_else(|| format!("answer_label {label:?} is not a letter A-J"))?;
        let opt = options.get(idx).ok_or_else(|| format!("answer_label {label} is not one of the options"))?;
        if let Some(t) = &answer_text
            && t.trim() != opt.trim()
        {
            return Err(format!("answer {t:?} does not match option {label} ({opt:?})"));
        }
        Answer::Choice(idx)
    };
    let mut refs = Vec::new();
    for img in image_list(obj)? {
        refs.push(images.resolve(&image_path(base, &img)).map_err(|e| e.to_string())?);
    }
    let source = opts
        .source
        .clone()
        .or_else(|| obj.get("dataset_name").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| "medvlthinker".into());
    let index = obj.get("dataset_index").and_then(scalar_text);
    let uid = match (obj.get("uid").and_then(Value::as_str), &index) {
        (Some(u), _) => u.to_string(),
        (None, Some(i)) => format!("{source}/{i}"),
        (None, None) => return Err("missing `dataset_index` (the record's id)".into()),
    };
    let modality = match obj.get("modality").and_then(Value::as_str) {
        Some(m) => Modality::parse(m).ok_or_else(|| format!("unknown modality {m:?}"))?,
        None => Modality::parse(&source).unwrap_or_default(),
    };
    let split = match (opts.split, obj.get("split").and_then(Value::as_str)) {
        (Some(s), _) => s,
        (None, Some(s)) => Split::parse(s).ok_or_else(|| format!("unknown split {s:?}"))?,
        (None, None) => Split::Train,
    };
    let mut tags: Vec<String> = match obj.get("tags") {
        Some(Value::Array(a)) => a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect(),
        _ => vec![],
    };
    tags.extend(opts.tags.iter().cloned());
    let mut meta = extra(obj, KNOWN);
    if let Some(Value::Object(m)) = obj.get("meta") {
        meta.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    // Keep the source's row id for joins (pass counts, results), unless this is our own export,
    // which carries `uid` and its metadata verbatim.
    if let (Some(i), None) = (index, obj.get("uid")) {
        meta.entry("dataset_index".into()).or_insert(Value::from(i));
    }
    let mut item = VqaItem {
        uid,
        images: refs,
        question,
        options,
        answer,
        modality,
        body_part: obj.get("body_part").and_then(Value::as_str).map(str::to_string),
        source,
        split,
        tags,
        meta,
    };
    item.normalize_tags();
    Ok(item)
}
