//! Exports of a project's items (optionally only a difficulty band, in a curriculum order):
//! JSONL in MedVLThinker's unified schema (plus our own fields, so it re-imports to the same items),
//! MedVLThinker/verl training Parquet (`data_source`, `prompt`, embedded image bytes, `ability`,
//! `reward_model.ground_truth` = option text, `extra_info` plus our uid, modality, tags and allowed
//! metadata, so it imports back to the same items), a TRL-ready JSONL, and a dataset card.
//! Nothing local leaves: images are named by content hash (JSONL exports copy them to `images/`
//! beside the file), metadata goes out by an allow-list ([`super::deid`]), and the card names no
//! machine path. A failed export leaves nothing behind.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::deid::{ExportImage, allowed_meta, dropped_warning, item_images};
use super::parquet::{Leaf, Node, ParquetWriter, Rep, Value as PV};
use crate::curation::{Band, Difficulty};
use crate::domain::prompt::PromptTemplate;
use crate::domain::{Split, VqaItem, letter};
use crate::jobs::ProgressSink;
use crate::store::{EstimateKey, PassCount, Project, StoreError};

/// Output layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Unified-schema JSONL (images as paths).
    Jsonl,
    /// verl / MedVLThinker training Parquet with embedded image bytes.
    VerlParquet,
    /// TRL `GRPOTrainer`-ready conversational JSONL.
    TrlJsonl,
}

impl ExportFormat {
    /// Parses `jsonl`, `verl-parquet` (or `parquet`), `trl-jsonl` (or `trl`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "jsonl" | "unified" => Some(Self::Jsonl),
            "verl-parquet" | "parquet" | "verl" => Some(Self::VerlParquet),
            "trl-jsonl" | "trl" => Some(Self::TrlJsonl),
            _ => None,
        }
    }
}

/// Curriculum order (MedVLThinker `order_easy_to_hard.py`: seeded shuffle, then a stable sort by pass count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Project order.
    AsIs,
    /// Seeded shuffle only.
    Shuffled,
    /// Most-solved first.
    EasyToHard,
    /// Least-solved first.
    HardToEasy,
}

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Layout.
    pub format: ExportFormat,
    /// Only this split.
    pub split: Option<Split>,
    /// Pass-count estimates to filter and order by, with the band kept (`None` = no band filter).
    pub difficulty: Option<(EstimateKey, Option<Band>)>,
    /// Order.
    pub order: Order,
    /// Shuffle seed (MedVLThinker uses 42).
    pub seed: u64,
    /// Prompt template for verl / TRL prompts (MedVLThinker's by default).
    pub template: PromptTemplate,
    /// verl `data_source` (also the metric prefix).
    pub data_source: String,
    /// Include items excluded by a curator (tag `excluded`).
    pub include_excluded: bool,
    /// Export a named dataset version instead of the live items.
    pub version: Option<String>,
    /// Metadata columns to export besides the allow-list (the user's explicit choice).
    pub keep_meta: Vec<String>,
    /// Export items tagged `burned-in-text` (patient text may be in their pixels) anyway: the
    /// user's confirmation for this export.
    pub allow_burned_in_text: bool,
    /// JSONL: also write a de-identified copy of each item's source DICOM file in `dicom/` beside
    /// the file (UIDs remapped consistently within this export), named in the row's `dicom`.
    pub dicom_copies: bool,
    /// The PS3.15 options those copies are made with (patient characteristics, dates).
    pub deid: super::dicom_deid_options::DeidOptions,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            format: ExportFormat::Jsonl,
            split: None,
            difficulty: None,
            order: Order::AsIs,
            seed: 42,
            template: PromptTemplate::Medvlthinker,
            data_source: "medvlm-workbench".into(),
            include_excluded: false,
            version: None,
            keep_meta: Vec::new(),
            allow_burned_in_text: false,
            dicom_copies: false,
            deid: super::dicom_deid_options::DeidOptions::default(),
        }
    }
}

/// What was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportSummary {
    /// The data file.
    pub path: PathBuf,
    /// The dataset card next to it.
    pub card: PathBuf,
    /// Rows written.
    pub rows: usize,
    /// Items left out by the split / band / exclusion filters.
    pub filtered_out: usize,
    /// Image files written beside a JSONL export (`images/<sha256>.<ext>`).
    pub images_written: usize,
    /// What the user should know: metadata columns left out, items without a usable image.
    pub warnings: Vec<String>,
}

/// Why an export failed (nothing is left half-written: files are written to a temporary name first).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Project access.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the file.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// An image to embed could not be read.
    #[error("item {uid}: cannot read image {path}: {source}")]
    Image {
        /// Item uid.
        uid: String,
        /// Image path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Nothing passed the filters.
    #[error("no items pass the export filters ({drafts} items have no question yet: tag needs-question)")]
    Empty {
        /// Items left out because they have no question.
        drafts: usize,
    },
    /// Items whose pixels may carry patient text, not confirmed.
    #[error(
        "{count} items may carry patient text burned into their pixels (tag `{BURNED_IN_TAG}`: text found in the image, ultrasound, secondary capture, or Burned In Annotation = YES), e.g. {first}; review them (`curate filter --tag {BURNED_IN_TAG} --apply black-out-text` blacks out the text found), exclude them, or confirm this export (--allow-burned-in-text)"
    )]
    BurnedInText {
        /// How many.
        count: usize,
        /// The first one's uid.
        first: String,
    },
}

/// The tag of items whose pixels may carry burned-in patient text (set on import).
pub const BURNED_IN_TAG: &str = "burned-in-text";

/// The tag that marks an item as excluded by a curator.
pub const EXCLUDED_TAG: &str = "excluded";

/// Exports to `out` (the card is written as `<out>.card.md`).
///
/// # Errors
/// [`ExportError`].
pub fn export(
    project: &Project,
    opts: &ExportOptions,
    out: &Path,
    sink: &dyn ProgressSink,
) -> Result<ExportSummary, ExportError> {
    let mut items: Vec<(i64, VqaItem)> = match &opts.version {
        Some(v) => project.version_items(v)?,
        None => project.items()?,
    };
    let before = items.len();
    let drafts = items.iter().filter(|(_, it)| it.is_draft()).count();
    let est: HashMap<i64, PassCount> = match &opts.difficulty {
        Some((key, _)) => project.estimates(key)?,
        None => HashMap::new(),
    };
    items.retain(|(id, it)| {
        opts.split.is_none_or(|s| s == it.split)
            && (opts.include_excluded || !it.tags.iter().any(|t| t == EXCLUDED_TAG))
            // Scans imported without a question have nothing to train on yet.
            && !it.is_draft()
            && match &opts.difficulty {
                // A band the curator set by hand wins over the pass count.
                Some((key, Some(band))) => match Difficulty::set_by_hand(&it.tags) {
                    Some(d) => d == Difficulty::Medium,
                    None => est.get(id).is_some_and(|c| c.n_samples == key.k && band.contains(c.n_correct)),
                },
                _ => true,
            }
    });
    // The PHI gate: pixels that may show a patient's name go out only when the user confirms.
    let burned: Vec<&VqaItem> =
        items.iter().map(|(_, it)| it).filter(|it| it.tags.iter().any(|t| t == BURNED_IN_TAG)).collect();
    if let (Some(first), false) = (burned.first(), opts.allow_burned_in_text) {
        return Err(ExportError::BurnedInText { count: burned.len(), first: first.uid.clone() });
    }
    // Items whose images cannot go out (missing or unreadable) are left out and named.
    let mut warnings = Vec::new();
    if drafts > 0 {
        warnings.push(format!("{drafts} items without a question yet (tag needs-question) were left out"));
    }
    let damaged = project.damaged_items()?;
    if !damaged.is_empty() {
        let ids: Vec<String> = damaged.iter().take(10).map(|(id, uid, _)| format!("{uid} (row {id})")).collect();
        warnings.push(format!(
            "{} damaged items could not be read and were left out: {}",
            damaged.len(),
            ids.join(", ")
        ));
    }
    let mut unusable = Vec::new();
    let mut images: HashMap<i64, Vec<ExportImage>> = HashMap::new();
    items.retain(|(id, it)| match item_images(it, |p| project.resolve_image(p)) {
        Ok(v) => {
            images.insert(*id, v);
            true
        }
        Err(why) => {
            unusable.push(format!("{} ({why})", it.uid));
            false
        }
    });
    if !unusable.is_empty() {
        let shown: Vec<&str> = unusable.iter().take(10).map(String::as_str).collect();
        let more = if unusable.len() > 10 { format!(" and {} more", unusable.len() - 10) } else { String::new() };
        warnings.push(format!("{} items left out, no usable image: {}{more}", unusable.len(), shown.join(", ")));
    }
    if items.is_empty() {
        return Err(ExportError::Empty { drafts });
    }
    if opts.order != Order::AsIs {
        crate::rng::Rng::new(opts.seed).shuffle(&mut items);
    }
    let pass = |id: &i64| est.get(id).map_or(-1, |c| c.n_correct as i64);
    match opts.order {
        Order::EasyToHard => items.sort_by_key(|(id, _)| std::cmp::Reverse(pass(id))),
        Order::HardToEasy => items.sort_by_key(|(id, _)| pass(id)),
        Order::AsIs | Order::Shuffled => {}
    }
    let mut written = Written::default();
    let result = write_all(project, opts, out, &items, &images, &est, sink, &mut written);
    match result {
        Ok((images_written, dropped)) => {
            warnings.extend(dropped_warning(&dropped));
            Ok(ExportSummary {
                path: out.to_path_buf(),
                card: card_path(out),
                rows: items.len(),
                filtered_out: before - items.len(),
                images_written,
                warnings,
            })
        }
        Err(e) => {
            written.remove();
            Err(e)
        }
    }
}

/// Files an export created, removed again when it fails.
#[derive(Default)]
struct Written(Vec<PathBuf>);

impl Written {
    fn remove(&self) {
        for p in self.0.iter().rev() {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn write_all(
    project: &Project,
    opts: &ExportOptions,
    out: &Path,
    items: &[(i64, VqaItem)],
    images: &HashMap<i64, Vec<ExportImage>>,
    est: &HashMap<i64, PassCount>,
    sink: &dyn ProgressSink,
    written: &mut Written,
) -> Result<(usize, BTreeSet<String>), ExportError> {
    let tmp = out.with_extension("partial");
    let io = |e| ExportError::Io { path: out.to_path_buf(), source: e };
    written.0.push(tmp.clone());
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let total = items.len() as u64;
    sink.update("exporting", 0, Some(total));
    let mut dropped = BTreeSet::new();
    let mut copied = 0;
    match opts.format {
        ExportFormat::Jsonl | ExportFormat::TrlJsonl => {
            let dir = out.parent().map_or_else(|| PathBuf::from("images"), |p| p.join("images"));
            let dicom_dir = dir.with_file_name("dicom");
            let mut uids = super::dicom_deid::UidMap::new();
            let mut w = BufWriter::new(file);
            for (n, (id, it)) in items.iter().enumerate() {
                let imgs = images.get(id).map(Vec::as_slice).unwrap_or_default();
                for img in imgs {
                    let dest = dir.join(&img.name);
                    if !dest.exists() {
                        std::fs::create_dir_all(&dir).map_err(|e| ExportError::Io { path: dir.clone(), source: e })?;
                        written.0.push(dest.clone());
                        std::fs::copy(&img.source, &dest).map_err(|e| ExportError::Image {
                            uid: it.uid.clone(),
                            path: PathBuf::from(&img.name),
                            source: e,
                        })?;
                        copied += 1;
                    }
                }
                let names: Vec<String> = imgs.iter().map(|i| format!("images/{}", i.name)).collect();
                let v = if opts.format == ExportFormat::Jsonl {
                    let mut v = unified(it, *id, est.get(id), &names, &opts.keep_meta, &mut dropped);
                    if opts.dicom_copies
                        && let Some(name) = dicom_copy(it, &dicom_dir, &mut uids, &opts.deid, written)?
                    {
                        v["dicom"] = Value::from(format!("dicom/{name}"));
                    }
                    v
                } else {
                    trl(it, &opts.template, &names)
                };
                writeln!(w, "{v}").map_err(io)?;
                sink.update("exporting", n as u64 + 1, Some(total));
            }
            w.flush().map_err(io)?;
        }
        ExportFormat::VerlParquet => {
            verl(items, images, est, opts, BufWriter::new(file), sink, &mut dropped)?;
        }
    }
    std::fs::rename(&tmp, out).map_err(io)?;
    written.0.push(out.to_path_buf());
    let card = card_path(out);
    written.0.push(card.clone());
    std::fs::write(&card, super::card::dataset_card(project, items, est, opts, out))
        .map_err(|e| ExportError::Io { path: card.clone(), source: e })?;
    Ok((copied, dropped))
}

/// A de-identified copy of the item's source DICOM file (if it has one) in `dir`, named by its new
/// SOP Instance UID, made with the options `deid`.
fn dicom_copy(
    it: &VqaItem,
    dir: &Path,
    uids: &mut super::dicom_deid::UidMap,
    deid: &super::dicom_deid_options::DeidOptions,
    written: &mut Written,
) -> Result<Option<String>, ExportError> {
    let Some(src) = it.meta.get(super::import::SCAN_SOURCE).and_then(Value::as_str).map(PathBuf::from) else {
        return Ok(None);
    };
    if !matches!(super::images::sniff(&src), Ok(super::images::FileKind::Dicom)) {
        return Ok(None);
    }
    // The regions blacked out of the rendering (which has the frame's size) go out of the copy.
    let redacted = it.images.first().map(|i| i.redacted.clone()).unwrap_or_default();
    let io = |e| ExportError::Io { path: dir.to_path_buf(), source: e };
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = dir.join(".deid.partial");
    written.0.push(tmp.clone());
    let uid = super::dicom_deid::deidentify(&src, &tmp, uids, &redacted, deid)
        .map_err(|e| ExportError::Io { path: PathBuf::from(&it.uid), source: std::io::Error::other(e.to_string()) })?;
    let name = format!("{uid}.dcm");
    let dest = dir.join(&name);
    std::fs::rename(&tmp, &dest).map_err(io)?;
    written.0.push(dest);
    Ok(Some(name))
}

/// `<out>.card.md`.
pub fn card_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".card.md");
    PathBuf::from(s)
}

fn options_json(it: &VqaItem) -> String {
    let m: serde_json::Map<String, Value> =
        it.options.iter().enumerate().map(|(i, o)| (letter(i).to_string(), Value::from(o.as_str()))).collect();
    Value::Object(m).to_string()
}

fn unified(
    it: &VqaItem,
    id: i64,
    pc: Option<&PassCount>,
    images: &[String],
    keep_meta: &[String],
    dropped: &mut BTreeSet<String>,
) -> Value {
    let mut v = json!({
        "images": images,
        "question": it.question,
        "options": options_json(it),
        "answer_label": it.answer_letter().map(|l| l.to_string()),
        "answer": it.answer_text(),
        "dataset_name": it.source,
        "dataset_index": id,
        "uid": it.uid,
        "modality": it.modality.as_str(),
        "body_part": it.body_part,
        "split": it.split.as_str(),
        "tags": it.tags,
        "meta": allowed_meta(&it.meta, keep_meta, dropped),
    });
    if let Some(c) = pc {
        v["pass_count"] = json!(c.n_correct);
        v["pass_k"] = json!(c.n_samples);
    }
    v
}

fn trl(it: &VqaItem, template: &PromptTemplate, images: &[String]) -> Value {
    let mut content: Vec<Value> = images.iter().map(|_| json!({"type": "image"})).collect();
    content.push(json!({"type": "text", "text": template.render(it)}));
    json!({
        "prompt": [{"role": "user", "content": content}],
        "images": images,
        "solution": it.answer_letter().map_or_else(|| it.answer_text().to_string(), |l| format!("<answer>{l}</answer>")),
        "answer_label": it.answer_letter().map(|l| l.to_string()),
        "answer": it.answer_text(),
        "uid": it.uid,
        "modality": it.modality.as_str(),
        "dataset_name": it.source,
    })
}

fn verl_schema() -> Vec<Node> {
    let s = |n: &str| Node::Leaf(n.into(), Rep::Required, Leaf::Utf8);
    let group = |n: &str, c: Vec<Node>| Node::Group(n.into(), Rep::Required, false, c);
    vec![
        s("data_source"),
        Node::list("prompt", Rep::Required, group("element", vec![s("role"), s("content")])),
        Node::list(
            "images",
            Rep::Required,
            group(
                "element",
                vec![
                    Node::Leaf("bytes".into(), Rep::Required, Leaf::Bytes),
                    Node::Leaf("path".into(), Rep::Optional, Leaf::Utf8),
                ],
            ),
        ),
        s("ability"),
        group("reward_model", vec![s("style"), s("ground_truth")]),
        group(
            "extra_info",
            vec![
                s("split"),
                Node::Leaf("index".into(), Rep::Required, Leaf::Int64),
                s("question"),
                s("options"),
                s("answer_label"),
                s("answer"),
                s("dataset_name"),
                Node::Leaf("dataset_index".into(), Rep::Required, Leaf::Int64),
                Node::Leaf("pass_count".into(), Rep::Optional, Leaf::Int64),
                // Ours, so that the file imports back to the same items (verl ignores them).
                s("uid"),
                s("modality"),
                Node::Leaf("body_part".into(), Rep::Optional, Leaf::Utf8),
                s("tags"),
                s("meta"),
            ],
        ),
    ]
}

fn verl<W: Write>(
    items: &[(i64, VqaItem)],
    images: &HashMap<i64, Vec<ExportImage>>,
    est: &HashMap<i64, PassCount>,
    opts: &ExportOptions,
    out: W,
    sink: &dyn ProgressSink,
    dropped: &mut BTreeSet<String>,
) -> Result<(), ExportError> {
    let io = |e| ExportError::Io { path: PathBuf::from("parquet"), source: e };
    let mut w = ParquetWriter::new(out, verl_schema()).map_err(io)?;
    let b = |s: &str| s.as_bytes().to_vec();
    for (n, (id, it)) in items.iter().enumerate() {
        let prompt = "<image>".repeat(it.images.len()) + &opts.template.render(it);
        // Leaf columns in schema order: data_source, prompt.role, prompt.content, images.bytes,
        // images.path, ability, reward_model.style, reward_model.ground_truth, extra_info.*.
        w.push(0, 0, 0, PV::Bytes(&b(&opts.data_source)));
        w.push(1, 0, 1, PV::Bytes(b"user"));
        w.push(2, 0, 1, PV::Bytes(prompt.as_bytes()));
        let imgs = images.get(id).map(Vec::as_slice).unwrap_or_default();
        if imgs.is_empty() {
            w.push(3, 0, 0, PV::Null);
            w.push(4, 0, 0, PV::Null);
        }
        for (k, img) in imgs.iter().enumerate() {
            let bytes = std::fs::read(&img.source).map_err(|e| ExportError::Image {
                uid: it.uid.clone(),
                path: PathBuf::from(&img.name),
                source: e,
            })?;
            let rep = u8::from(k > 0);
            w.push(3, rep, 1, PV::Bytes(&bytes));
            // The content-hash name: never the local path.
            w.push(4, rep, 2, PV::Bytes(img.name.as_bytes()));
        }
        w.push(5, 0, 0, PV::Bytes(b"medical_mcqa"));
        w.push(6, 0, 0, PV::Bytes(b"rule"));
        w.push(7, 0, 0, PV::Bytes(it.answer_text().as_bytes()));
        w.push(8, 0, 0, PV::Bytes(it.split.as_str().as_bytes()));
        w.push(9, 0, 0, PV::Int(n as i64));
        w.push(10, 0, 0, PV::Bytes(it.question.as_bytes()));
        w.push(11, 0, 0, PV::Bytes(options_json(it).as_bytes()));
        w.push(12, 0, 0, PV::Bytes(it.answer_letter().map(|l| l.to_string()).unwrap_or_default().as_bytes()));
        w.push(13, 0, 0, PV::Bytes(it.answer_text().as_bytes()));
        w.push(14, 0, 0, PV::Bytes(it.source.as_bytes()));
        w.push(15, 0, 0, PV::Int(*id));
        match est.get(id) {
            Some(c) => w.push(16, 0, 1, PV::Int(c.n_correct as i64)),
            None => w.push(16, 0, 0, PV::Null),
        }
        w.push(17, 0, 0, PV::Bytes(it.uid.as_bytes()));
        w.push(18, 0, 0, PV::Bytes(it.modality.as_str().as_bytes()));
        match &it.body_part {
            Some(b) => w.push(19, 0, 1, PV::Bytes(b.as_bytes())),
            None => w.push(19, 0, 0, PV::Null),
        }
        w.push(20, 0, 0, PV::Bytes(Value::from(it.tags.clone()).to_string().as_bytes()));
        let meta = Value::Object(allowed_meta(&it.meta, &opts.keep_meta, dropped).into_iter().collect());
        w.push(21, 0, 0, PV::Bytes(meta.to_string().as_bytes()));
        w.end_row();
        if (n + 1) % 256 == 0 {
            w.finish_row_group().map_err(io)?;
        }
        sink.update("exporting", n as u64 + 1, Some(items.len() as u64));
    }
    w.finish().map_err(io)?;
    Ok(())
}
