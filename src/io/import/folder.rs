//! A plain folder of PNG/JPEG images with a manifest: `manifest.jsonl`, `manifest.csv`,
//! `metadata.jsonl` or `metadata.csv` (the Hugging Face `imagefolder` names). One row per question:
//! `image` (or `file_name`), `question`, `options` (JSON list or dict, or `|`-separated), `answer`
//! (a letter or the option text; no options = open-ended), and optional `id`, `modality`,
//! `body_part`, `split`, `source`, `tags` (`;`-separated). Other columns are kept as metadata.
//! A folder of DICOM/NIfTI scans without a manifest (or a DICOMDIR) goes to [`super::scans`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::medvlm_r1::answer_index;
use super::{
    ImportError, ImportOptions, Location, Parsed, image_path, read_csv_bytes, read_lines, scalar_text, short_hash,
};
use crate::domain::{Answer, Modality, Split, VqaItem, letter_index};
use crate::io::images::{ImageResolver, Rendering, Scan, is_image_path};

/// Manifest names looked for in a folder, in order.
pub const MANIFEST_NAMES: &[&str] = &["manifest.jsonl", "manifest.csv", "metadata.jsonl", "metadata.csv"];

const KNOWN: &[&str] = &[
    "image",
    "images",
    "file_name",
    "image_path",
    "question",
    "options",
    "answer",
    "id",
    "uid",
    "modality",
    "body_part",
    "split",
    "source",
    "tags",
];

type Row = BTreeMap<String, Value>;

fn find_manifest(dir: &Path) -> Result<PathBuf, ImportError> {
    if let Some(p) = MANIFEST_NAMES.iter().map(|n| dir.join(n)).find(|p| p.is_file()) {
        return Ok(p);
    }
    let n_images = std::fs::read_dir(dir)
        .map_err(|source| ImportError::Io { path: dir.to_path_buf(), source })?
        .filter_map(Result::ok)
        .filter(|e| is_image_path(&e.path()))
        .count();
    Err(ImportError::Unusable {
        reason: format!("no manifest ({}) in the folder ({n_images} images found)", MANIFEST_NAMES.join(", ")),
        path: dir.to_path_buf(),
    })
}

fn read_rows(manifest: &Path, out: &mut Parsed) -> Result<Vec<(usize, Row)>, ImportError> {
    let mut rows = Vec::new();
    if manifest.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
        let bytes = read_csv_bytes(manifest)?;
        let mut rdr = csv::ReaderBuilder::new().flexible(false).from_reader(bytes.as_slice());
        let headers: Vec<String> = rdr
            .byte_headers()
            .map_err(|e| ImportError::Unusable {
                reason: format!("bad CSV header ({e})"),
                path: manifest.to_path_buf(),
            })?
            .iter()
            .map(|h| String::from_utf8(h.to_vec()).map(|h| h.trim().to_string()))
            .collect::<Result<_, _>>()
            .map_err(|_| ImportError::Unusable {
                reason: "the CSV header is not UTF-8 text".into(),
                path: manifest.to_path_buf(),
            })?;
        for rec in rdr.byte_records() {
            match rec {
                Ok(r) => {
                    let line = r.position().map_or(0, |p| p.line() as usize);
                    let fields: Result<Vec<String>, usize> =
                        r.iter().enumerate().map(|(i, f)| String::from_utf8(f.to_vec()).map_err(|_| i)).collect();
                    match fields {
                        Ok(f) => {
                            rows.push((line, headers.iter().cloned().zip(f.into_iter().map(Value::from)).collect()))
                        }
                        Err(i) => out.error(
                            manifest,
                            Location::Line(line),
                            format!("column `{}` is not UTF-8 text", headers.get(i).map_or("?", String::as_str)),
                        ),
                    }
                }
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line() as usize);
                    out.error(manifest, Location::Line(line), format!("bad CSV row ({e})"));
                }
            }
        }
    } else {
        for (n, line) in read_lines(manifest)? {
            let line = match line {
                Ok(l) => l,
                Err(reason) => {
                    out.error(manifest, Location::Line(n), reason);
                    continue;
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(&line) {
                Ok(Value::Object(m)) => rows.push((n, m.into_iter().collect())),
                Ok(_) => out.error(manifest, Location::Line(n), "line is not a JSON object"),
                Err(e) => {
                    out.error(manifest, Location::Line(n), format!("invalid JSON at column {} ({e})", e.column()))
                }
            }
        }
    }
    Ok(rows)
}

pub(super) fn parse(path: &Path, opts: &ImportOptions, images: &mut ImageResolver) -> Result<Parsed, ImportError> {
    // A DICOMDIR indexes the tree beside it: the files it names are imported.
    if path.file_name().is_some_and(|n| n.eq_ignore_ascii_case("DICOMDIR")) {
        return super::scans::parse_dicomdir(path, opts, images);
    }
    // A scan named on its own (or a DICOMDIR under another name).
    if path.is_file()
        && let Some(kind) = crate::io::images::scan_kind(path)
    {
        return super::scans::parse_file(path, kind, opts, images);
    }
    let manifest = if path.is_dir() {
        match find_manifest(path) {
            Ok(m) => m,
            // No manifest: a folder of scans imports as items without a question, the files its
            // DICOMDIR names when it has one (media from a CD or a PACS export).
            Err(e) => {
                if let Some(index) = dicomdir_in(path) {
                    return super::scans::parse_dicomdir(&index, opts, images);
                }
                if super::scans::find(path).is_empty() {
                    return Err(e);
                }
                return super::scans::parse(path, opts, images);
            }
        }
    } else {
        path.to_path_buf()
    };
    let base = manifest.parent().unwrap_or(Path::new(".")).to_path_buf();
    // Not the folder's name: folder names often hold a patient's name, and the source goes out in exports.
    let default_source = "folder".to_string();
    let mut out = Parsed::default();
    for (line, row) in read_rows(&manifest, &mut out)? {
        match record(&row, &base, &default_source, opts, images) {
            Ok(item) => out.push(&manifest, Location::Line(line), item),
            Err(reason) => out.error(&manifest, Location::Line(line), reason),
        }
    }
    Ok(out)
}

/// The DICOMDIR at the top of `dir` (its name in any case), if there is one.
fn dicomdir_in(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .find(|e| e.file_name().eq_ignore_ascii_case("DICOMDIR") && e.path().is_file())
        .map(|e| e.path())
}

fn text(row: &Row, key: &str) -> Option<String> {
    row.get(key).and_then(scalar_text).map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn options_of(row: &Row) -> Result<Vec<String>, String> {
    if let Some(v) = row.get("options") {
        let parsed = match v {
            Value::String(s) if s.trim().starts_with(['[', '{']) => {
                serde_json::from_str::<Value>(s).map_err(|e| format!("`options` is not valid JSON ({e})"))?
            }
            Value::String(s) if s.trim().is_empty() => return Ok(vec![]),
            Value::String(s) => return Ok(s.split('|').map(|o| o.trim().to_string()).collect()),
            other => other.clone(),
        };
        return match parsed {
            Value::Array(a) => a.iter().map(|x| scalar_text(x).ok_or_else(|| "non-text option".to_string())).collect(),
            Value::Object(m) => {
                let mut pairs: Vec<(usize, String)> = m
                    .iter()
                    .map(|(k, v)| {
                        let i = k
                            .trim()
                            .chars()
                            .next()
                            .and_then(letter_index)
                            .ok_or_else(|| format!("option key {k:?} is not a letter"))?;
                        Ok((i, scalar_text(v).ok_or_else(|| format!("option {k} is not text"))?))
                    })
                    .collect::<Result<_, String>>()?;
                pairs.sort_by_key(|p| p.0);
                Ok(pairs.into_iter().map(|p| p.1).collect())
            }
            _ => Err("`options` must be a list, a dict or `|`-separated text".into()),
        };
    }
    // Column-per-option layouts: `A`..`J` or `option_a`..`option_j`.
    let mut opts = Vec::new();
    for c in 'A'..='J' {
        let v = text(row, &c.to_string()).or_else(|| text(row, &format!("option_{}", c.to_ascii_lowercase())));
        match v {
            Some(v) => opts.push(v),
            None => break,
        }
    }
    Ok(opts)
}

fn record(
    row: &Row,
    base: &Path,
    default_source: &str,
    opts: &ImportOptions,
    images: &mut ImageResolver,
) -> Result<VqaItem, String> {
    let question = text(row, "question").ok_or("missing `question`")?;
    let options = options_of(row)?;
    let answer_raw = text(row, "answer").ok_or("missing `answer`")?;
    let answer = if options.is_empty() {
        Answer::Open(answer_raw.clone())
    } else {
        let by_letter = {
            let mut c = answer_raw.chars();
            match (c.next(), c.next()) {
                (Some(l), None) => letter_index(l).filter(|&i| i < options.len()),
                _ => None,
            }
        };
        Answer::Choice(
            by_letter
                .or_else(|| answer_index(&options, &answer_raw, None))
                .ok_or_else(|| format!("answer {answer_raw:?} is neither an option letter nor an option text"))?,
        )
    };
    let image_names: Vec<String> = match row.get("images") {
        Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
        _ => ["image", "file_name", "image_path", "images"]
            .iter()
            .find_map(|k| text(row, k))
            .map(|s| s.split(';').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect())
            .unwrap_or_default(),
    };
    let mut refs = Vec::new();
    for name in &image_names {
        refs.push(images.resolve(&image_path(base, name)).map_err(|e| e.to_string())?);
    }
    let source = opts.source.clone().or_else(|| text(row, "source")).unwrap_or_else(|| default_source.to_string());
    let uid = match text(row, "uid").or_else(|| text(row, "id").map(|id| format!("{source}/{id}"))) {
        Some(u) => u,
        None => format!("{source}/{}", short_hash(&[image_names.first().map_or("", String::as_str), &question])),
    };
    let scan = refs.first().and_then(|r| images.scan_source(&r.path)).cloned();
    let modality = match (text(row, "modality"), scan.as_ref().map(|s| &s.rendered)) {
        (Some(m), _) => Modality::parse(&m).ok_or_else(|| format!("unknown modality {m:?}"))?,
        (None, Some(Rendering::Dicom(d))) => crate::io::dicom::modality_of(&d.modality).unwrap_or(Modality::Other),
        (None, Some(Rendering::Nifti(_))) => {
            scan.as_ref().and_then(|s| crate::io::nifti::modality_of_bids_name(&s.source)).unwrap_or(Modality::Other)
        }
        (None, _) => Modality::Other,
    };
    let split = match (opts.split, text(row, "split")) {
        (Some(s), _) => s,
        (None, Some(s)) => Split::parse(&s).ok_or_else(|| format!("unknown split {s:?}"))?,
        (None, None) => Split::Train,
    };
    let mut tags: Vec<String> = match row.get("tags") {
        Some(Value::Array(a)) => a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect(),
        _ => text(row, "tags").map(|t| t.split([';', '|']).map(str::to_string).collect()).unwrap_or_default(),
    };
    tags.extend(opts.tags.iter().cloned());
    let mut meta: std::collections::BTreeMap<String, Value> = row
        .iter()
        .filter(|(k, _)| !KNOWN.contains(&k.as_str()) && !is_option_column(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(scan) = scan {
        scan_meta(&scan, &mut meta, &mut tags);
    }
    let mut item = VqaItem {
        uid,
        images: refs,
        question,
        options,
        answer,
        modality,
        body_part: text(row, "body_part"),
        source,
        split,
        tags,
        meta,
    };
    item.normalize_tags();
    Ok(item)
}

/// A DICOM or NIfTI rendering's provenance in the item: the window and frame or slice the model
/// sees (so training and review see the same image), the spacing for the ruler, the source file
/// for the viewer (local only: not on the export allow-list), and the patient attributes the
/// header carried, by name, with `phi:detected` / `burned-in-text` tags for the facets.
pub(super) fn scan_meta(scan: &Scan, meta: &mut std::collections::BTreeMap<String, Value>, tags: &mut Vec<String>) {
    meta.insert(SCAN_SOURCE.into(), Value::from(scan.source.to_string_lossy().into_owned()));
    match &scan.rendered {
        Rendering::Dicom(d) => {
            let mut dicom = serde_json::json!({
                "window": [d.window.center, d.window.width], "frame": d.frame, "frames": d.frames,
                "modality": d.modality, "transfer_syntax": d.transfer_syntax,
            });
            // The VOI function, when not the default linear one (a table window names the file's VOI LUT).
            if d.window.function != crate::imaging::VoiFunction::Linear {
                dicom["voi_function"] = serde_json::json!(d.window.function);
            }
            meta.insert("dicom".into(), dicom);
            if let Some((r, c)) = d.pixel_spacing {
                meta.insert("pixel_spacing".into(), serde_json::json!([r, c]));
            }
            if !d.phi.is_empty() {
                meta.insert("phi_attributes".into(), serde_json::json!(d.phi));
                tags.push("phi:detected".into());
            }
            if d.burned_in {
                tags.push("burned-in-text".into());
            }
        }
        Rendering::Nifti(n) => {
            meta.insert(
                "nifti".into(),
                serde_json::json!({
                    "window": [n.window.center, n.window.width], "axis": n.axis, "slice": n.slice,
                    "slices": n.slices, "orientation": n.orientation, "version": n.version,
                }),
            );
            meta.insert("pixel_spacing".into(), serde_json::json!([n.pixel_spacing.0, n.pixel_spacing.1]));
        }
    }
}

/// The item metadata key holding the local path of the scan an image was rendered from.
pub const SCAN_SOURCE: &str = "scan_source";

fn is_option_column(k: &str) -> bool {
    let mut c = k.chars();
    let single = matches!((c.next(), c.next()), (Some(l), None) if l.is_ascii_uppercase() && letter_index(l).is_some());
    single || (k.starts_with("option_") && k.len() == 8)
}
