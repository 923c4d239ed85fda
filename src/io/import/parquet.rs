//! Parquet from Hugging Face datasets with embedded image bytes: MedVLThinker's unified schema
//! (`question`, `options`, `answer_label`, `answer`, `dataset_name`, `dataset_index`, `images` as a
//! list of `{bytes, path}`), verl's training layout (`data_source`, `prompt`, `images`,
//! `reward_model.ground_truth`, `extra_info`) and our own verl export, which reads back to the
//! same items. Rows stream through the Parquet record reader (snappy, zstd, gzip, lz4); image
//! bytes go to the project's `embedded-images/` folder under their content hash.

use std::fs::File;
use std::path::Path;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::{Field, Row};
use serde_json::{Map, Value};

use super::{ImportError, ImportOptions, Location, Parsed, medvlthinker};
use crate::io::images::ImageResolver;

/// The key of the placeholder that stands for a binary value in a row turned into JSON.
const BLOB: &str = "\u{0}blob";

/// Which layout a file's columns follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Unified,
    Verl,
}

pub(super) fn parse(path: &Path, opts: &ImportOptions, images: &mut ImageResolver) -> Result<Parsed, ImportError> {
    let unusable = |reason: String| ImportError::Unusable { reason, path: path.to_path_buf() };
    let file = File::open(path).map_err(|source| ImportError::Io { path: path.to_path_buf(), source })?;
    let reader = SerializedFileReader::new(file).map_err(|e| unusable(format!("not a readable Parquet file ({e})")))?;
    let columns: Vec<String> = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    let has = |c: &str| columns.iter().any(|x| x == c);
    let layout = if has("extra_info") || has("reward_model") {
        Layout::Verl
    } else if has("question") {
        Layout::Unified
    } else {
        return Err(unusable(format!(
            "neither MedVLThinker's unified schema (a `question` column) nor verl's (`reward_model`, `extra_info`); columns: {}",
            columns.join(", ")
        )));
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let rows = reader.get_row_iter(None).map_err(|e| unusable(format!("cannot read its rows ({e})")))?;
    let mut out = Parsed::default();
    for (i, row) in rows.enumerate() {
        let loc = Location::Index(i);
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                // A broken page ends the file: the rows before it are kept.
                out.error(path, loc, format!("cannot decode this row or any after it ({e})"));
                break;
            }
        };
        let mut blobs = Vec::new();
        let rec = row_json(&row, &mut blobs);
        let rec = match layout {
            Layout::Unified => Ok(rec),
            Layout::Verl => from_verl(rec),
        };
        let item = rec
            .and_then(|mut rec| {
                embed_images(&mut rec, &blobs, &format!("{name}[row {i}]"), images)?;
                strip_blobs(&mut rec);
                medvlthinker::record(&rec, base, opts, images)
            })
            .map(|mut item| {
                if layout == Layout::Verl {
                    item.meta.remove("ability");
                }
                item
            });
        match item {
            Ok(item) => out.push(path, loc, item),
            Err(reason) => out.error(path, loc, reason),
        }
    }
    Ok(out)
}

/// A verl row as a unified-schema record: the question, options and labels from `extra_info`
/// (MedVLThinker and our export put them there), else the prompt's text and the reward model's
/// ground truth as an open answer.
fn from_verl(v: Value) -> Result<Value, String> {
    let Value::Object(mut row) = v else { return Err("row is not a record".into()) };
    let mut extra = match row.remove("extra_info") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let truth = row.get("reward_model").and_then(|r| r.get("ground_truth")).cloned();
    let mut out = Map::new();
    let question = match extra.remove("question") {
        Some(q @ Value::String(_)) => q,
        _ => Value::from(prompt_text(row.get("prompt")).ok_or("no `extra_info.question` and no user prompt text")?),
    };
    out.insert("question".into(), question);
    out.insert("options".into(), extra.remove("options").unwrap_or(Value::Null));
    if let Some(answer) = extra.remove("answer").or(truth) {
        out.insert("answer".into(), answer);
    }
    for key in ["answer_label", "dataset_name", "dataset_index", "split", "uid", "modality", "body_part"] {
        if let Some(v) = extra.remove(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), v);
        }
    }
    if !out.contains_key("dataset_name")
        && let Some(ds) = row.get("data_source").cloned()
    {
        out.insert("dataset_name".into(), ds);
    }
    if !out.contains_key("dataset_index") {
        let index =
            extra.remove("index").ok_or("no `extra_info.dataset_index` or `extra_info.index` (the row's id)")?;
        out.insert("dataset_index".into(), index);
    }
    // Our export writes tags and metadata as JSON text.
    for key in ["tags", "meta"] {
        if let Some(Value::String(s)) = extra.remove(key) {
            let parsed =
                serde_json::from_str::<Value>(&s).map_err(|e| format!("`extra_info.{key}` is not JSON ({e})"))?;
            out.insert(key.into(), parsed);
        }
    }
    extra.remove("pass_count");
    extra.remove("index");
    if let Some(images) = row.remove("images") {
        out.insert("images".into(), images);
    }
    // Whatever else the row carried stays with the item as metadata.
    for (k, v) in extra {
        out.entry(k).or_insert(v);
    }
    Ok(Value::Object(out))
}

/// The user turn's text, `<image>` placeholders removed.
fn prompt_text(prompt: Option<&Value>) -> Option<String> {
    let turns = prompt?.as_array()?;
    let user = turns.iter().rev().find(|t| t.get("role").and_then(Value::as_str) == Some("user"))?;
    let text = match user.get("content")? {
        Value::String(s) => s.clone(),
        Value::Array(parts) => {
            parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
        }
        _ => return None,
    };
    Some(text.replace("<image>", "").trim().to_string()).filter(|t| !t.is_empty())
}

/// Replaces each embedded image (`{bytes, path}` with bytes) in `images` / `image` by the path of
/// its copy in the project; an entry with only a path is left for the resolver (relative to the file).
fn embed_images(rec: &mut Value, blobs: &[Vec<u8>], row: &str, images: &mut ImageResolver) -> Result<(), String> {
    let Some(obj) = rec.as_object_mut() else { return Ok(()) };
    let key = if obj.contains_key("images") { "images" } else { "image" };
    let Some(field) = obj.get_mut(key) else { return Ok(()) };
    let mut entries: Vec<&mut Value> = match field {
        Value::Array(a) => a.iter_mut().collect(),
        Value::Null => return Ok(()),
        one => vec![one],
    };
    for (k, entry) in entries.iter_mut().enumerate() {
        // Bytes that happen to be UTF-8 came through as text: still bytes.
        let bytes = match entry.get("bytes") {
            Some(Value::String(s)) if !s.is_empty() => Some(s.as_bytes()),
            Some(b) => match b.get(BLOB).and_then(Value::as_u64) {
                Some(n) => Some(blobs.get(n as usize).ok_or("internal: lost image bytes")?.as_slice()),
                None => None,
            },
            None => None,
        };
        if let Some(bytes) = bytes {
            let r = images.store_embedded(bytes, &format!("{row} {key}[{k}]")).map_err(|e| e.to_string())?;
            **entry = Value::from(r.path);
        } else if let Some(p) = entry.get("path").and_then(Value::as_str).map(str::to_string) {
            **entry = Value::from(p);
        } else if entry.is_object() {
            return Err(format!("{key}[{k}] has neither bytes nor a path"));
        }
    }
    Ok(())
}

/// Binary values left outside the images are dropped (they are not text).
fn strip_blobs(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.contains_key(BLOB) {
                *v = Value::Null;
            } else {
                m.values_mut().for_each(strip_blobs);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip_blobs),
        _ => {}
    }
}

/// A row as JSON. Binary values that are not UTF-8 text go to `blobs` and appear as `{BLOB: index}`.
fn row_json(row: &Row, blobs: &mut Vec<Vec<u8>>) -> Value {
    Value::Object(row.get_column_iter().map(|(k, f)| (k.clone(), field_json(f, blobs))).collect())
}

fn field_json(f: &Field, blobs: &mut Vec<Vec<u8>>) -> Value {
    match f {
        Field::Null => Value::Null,
        Field::Bool(b) => Value::from(*b),
        Field::Byte(x) => Value::from(*x),
        Field::Short(x) => Value::from(*x),
        Field::Int(x) => Value::from(*x),
        Field::Long(x) => Value::from(*x),
        Field::UByte(x) => Value::from(*x),
        Field::UShort(x) => Value::from(*x),
        Field::UInt(x) => Value::from(*x),
        Field::ULong(x) => Value::from(*x),
        Field::Float16(x) => Value::from(f32::from(*x)),
        Field::Float(x) => Value::from(*x),
        Field::Double(x) => Value::from(*x),
        Field::Str(s) => Value::from(s.as_str()),
        Field::Bytes(b) => match std::str::from_utf8(b.data()) {
            Ok(s) => Value::from(s),
            Err(_) => {
                blobs.push(b.data().to_vec());
                let mut m = Map::new();
                m.insert(BLOB.into(), Value::from(blobs.len() - 1));
                Value::Object(m)
            }
        },
        Field::Group(r) => row_json(r, blobs),
        Field::ListInternal(l) => Value::Array(l.elements().iter().map(|e| field_json(e, blobs)).collect()),
        Field::MapInternal(m) => Value::Object(
            m.entries()
                .iter()
                .map(|(k, v)| {
                    let key = match field_json(k, blobs) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, field_json(v, blobs))
                })
                .collect(),
        ),
        // Decimals, dates and times: their display form.
        other => Value::from(other.to_string()),
    }
}
