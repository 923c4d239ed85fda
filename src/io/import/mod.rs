//! Importers for the VQA formats users have: MedVLM-R1 / HuatuoGPT-Vision evaluation JSON, the
//! MedVLThinker unified schema (JSONL), VQA-RAD and SLAKE JSON, and a folder of images with a
//! CSV/JSONL manifest. A bad record never stops an import: it becomes a [`Problem`] naming the
//! file, the line or index and the reason, and the rest still import.

mod driver;
mod folder;
mod medvlm_r1;
mod medvlthinker;
mod mevf;
mod parquet;
mod scans;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::domain::VqaItem;
use crate::io::images::ImageResolver;

pub use driver::{CHUNK, FileReport, ImportOptions, ImportSummary, TEXT_FOUND, import_paths};
pub use folder::SCAN_SOURCE;

/// A supported input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportFormat {
    /// MedVLM-R1 / HuatuoGPT-Vision evaluation JSON (`image`, `question`, `options`, `answer`, `dataset`, `subset`).
    MedvlmR1,
    /// MedVLThinker unified schema, one JSON object per line.
    Medvlthinker,
    /// VQA-RAD (MEVF split JSON: `qid`, `image_name`, `answer_type`, ...).
    VqaRad,
    /// SLAKE JSON (`img_name`, `q_lang`, `modality`, ...).
    Slake,
    /// A folder of PNG/JPEG images with a `manifest.{jsonl,csv}` or `metadata.{jsonl,csv}`.
    Folder,
    /// Parquet with embedded image bytes: MedVLThinker's unified schema or verl's layout (ours too).
    Parquet,
}

impl ImportFormat {
    /// Every format, for `--help` and the import dialog.
    pub const ALL: [ImportFormat; 6] =
        [Self::MedvlmR1, Self::Medvlthinker, Self::VqaRad, Self::Slake, Self::Folder, Self::Parquet];

    /// CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MedvlmR1 => "medvlm-r1",
            Self::Medvlthinker => "medvlthinker",
            Self::VqaRad => "vqa-rad",
            Self::Slake => "slake",
            Self::Folder => "folder",
            Self::Parquet => "parquet",
        }
    }

    /// Parses a CLI name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

impl fmt::Display for ImportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where in a file a problem is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// The whole file.
    File,
    /// 1-based line number (JSONL, CSV, JSON syntax errors).
    Line(usize),
    /// 0-based index of the record in a JSON array.
    Index(usize),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File => Ok(()),
            Self::Line(n) => write!(f, ":{n}"),
            Self::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A record that could not be imported, or a warning about one that was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// Where in it.
    pub location: Location,
    /// Why.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}: {}", self.file.display(), self.location, self.reason)
    }
}

/// The outcome of parsing one file.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Items ready to insert (validated).
    pub items: Vec<VqaItem>,
    /// Records that were skipped, with reasons.
    pub errors: Vec<Problem>,
    /// Records imported with a caveat (e.g. an option list that was inferred).
    pub warnings: Vec<Problem>,
}

impl Parsed {
    fn error(&mut self, file: &Path, location: Location, reason: impl Into<String>) {
        self.errors.push(Problem { file: file.to_path_buf(), location, reason: reason.into() });
    }

    /// Validates `item` and keeps it, or records why not. An item whose image does not decode is
    /// kept, flagged, with a warning (jobs skip it and name it).
    fn push(&mut self, file: &Path, location: Location, item: VqaItem) {
        match item.validate() {
            Ok(()) => {
                if let (n, Some(reason)) = item.unreadable_images() {
                    let what = if n == 1 { "image".to_string() } else { format!("{n} images") };
                    self.warnings.push(Problem {
                        file: file.to_path_buf(),
                        location,
                        reason: format!("{what} flagged unreadable: {reason}"),
                    });
                }
                self.items.push(item);
            }
            Err(e) => self.error(file, location, e.to_string()),
        }
    }
}

/// Why a file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file or folder could not be read.
    #[error("cannot read ({source}): {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The format could not be recognised.
    #[error("cannot tell the format ({reason}); pass --format: {path}")]
    UnknownFormat {
        /// Why detection failed.
        reason: String,
        /// The path.
        path: PathBuf,
    },
    /// The whole file is unusable (not JSON, wrong top-level shape, no manifest).
    #[error("{reason}: {path}")]
    Unusable {
        /// Why.
        reason: String,
        /// The path.
        path: PathBuf,
    },
    /// Writing into the project failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Refuses DICOM and NIfTI files given as a dataset file of another format, with the message users need.
fn refuse_clinical(path: &Path) -> Result<(), ImportError> {
    match crate::io::images::sniff(path) {
        Ok(crate::io::images::FileKind::Dicom | crate::io::images::FileKind::Nifti) => Err(ImportError::Unusable {
            reason: crate::io::images::SCAN_NOT_A_DATASET.into(),
            path: path.to_path_buf(),
        }),
        _ => Ok(()),
    }
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, ImportError> {
    refuse_clinical(path)?;
    let mut bytes = std::fs::read(path).map_err(|source| ImportError::Io { path: path.to_path_buf(), source })?;
    // Tolerate a UTF-8 byte-order mark.
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    Ok(bytes)
}

/// A whole-document text file (JSON). Invalid UTF-8 makes it unusable, reported by line and column.
pub(crate) fn read_text(path: &Path) -> Result<String, ImportError> {
    let bytes = read_bytes(path)?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let before = &e.as_bytes()[..at];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let col = at - before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1) + 1;
        ImportError::Unusable {
            reason: format!("not UTF-8 text at line {line}, column {col}"),
            path: path.to_path_buf(),
        }
    })
}

/// A 1-based line number with the line's text, or why it is not text.
pub(crate) type NumberedLine = (usize, Result<String, String>);

/// A line-per-record file (JSONL): each 1-based line as text, or why it is not UTF-8 (only that
/// record is skipped).
pub(crate) fn read_lines(path: &Path) -> Result<Vec<NumberedLine>, ImportError> {
    let bytes = read_bytes(path)?;
    Ok(bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(n, raw)| {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let text = String::from_utf8(raw.to_vec())
                .map_err(|e| format!("not UTF-8 text at column {}", e.utf8_error().valid_up_to() + 1));
            (n + 1, text)
        })
        .collect())
}

/// The raw bytes of a CSV manifest (records are checked for UTF-8 one by one).
pub(crate) fn read_csv_bytes(path: &Path) -> Result<Vec<u8>, ImportError> {
    read_bytes(path)
}

/// Guesses the format of a file or folder from its name and first record.
///
/// # Errors
/// [`ImportError::UnknownFormat`] or I/O errors.
pub fn detect(path: &Path) -> Result<ImportFormat, ImportError> {
    let unknown = |reason: &str| ImportError::UnknownFormat { reason: reason.to_string(), path: path.to_path_buf() };
    if path.is_dir() || path.file_name().is_some_and(|n| n.eq_ignore_ascii_case("DICOMDIR")) {
        return Ok(ImportFormat::Folder);
    }
    // A DICOM or NIfTI file (by its bytes, or by its name when they are damaged) imports as the
    // scans of a folder.
    if path.is_file() && crate::io::images::scan_kind(path).is_some() {
        return Ok(ImportFormat::Folder);
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "csv" => return Ok(ImportFormat::Folder),
        "parquet" => return Ok(ImportFormat::Parquet),
        "jsonl" | "ndjson" => {
            let lines = read_lines(path)?;
            let first = lines
                .iter()
                .filter_map(|(_, l)| l.as_ref().ok())
                .find(|l| !l.trim().is_empty())
                .ok_or_else(|| unknown("no readable line"))?;
            let v: serde_json::Value = serde_json::from_str(first).map_err(|_| unknown("first line is not JSON"))?;
            return Ok(if v.get("answer_label").is_some() || v.get("dataset_index").is_some() {
                ImportFormat::Medvlthinker
            } else {
                ImportFormat::Folder
            });
        }
        "json" => {}
        _ => {
            refuse_clinical(path)?;
            if is_parquet(path) {
                return Ok(ImportFormat::Parquet);
            }
            return Err(unknown("expected .json, .jsonl, .csv, .parquet or a folder"));
        }
    }
    let text = read_text(path)?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| unknown(&format!("not valid JSON: {e}")))?;
    let first = match &v {
        serde_json::Value::Array(a) => {
            a.iter().find(|x| x.is_object()).ok_or_else(|| unknown("no JSON objects in the array"))?
        }
        _ => return Err(unknown("top level is not a JSON array")),
    };
    let has = |k: &str| first.get(k).is_some();
    if has("q_lang") || has("img_name") {
        Ok(ImportFormat::Slake)
    } else if has("image_name") && has("answer_type") {
        Ok(ImportFormat::VqaRad)
    } else if has("answer_label") {
        Ok(ImportFormat::Medvlthinker)
    } else if has("options") && has("answer") {
        Ok(ImportFormat::MedvlmR1)
    } else {
        Err(unknown("unrecognised record keys"))
    }
}

/// Parses one file or folder in the given format. Image paths in the items are absolute.
///
/// # Errors
/// [`ImportError`] when the file as a whole cannot be used; per-record trouble goes into [`Parsed::errors`].
pub fn parse(
    path: &Path,
    format: ImportFormat,
    opts: &ImportOptions,
    images: &mut ImageResolver,
) -> Result<Parsed, ImportError> {
    match format {
        ImportFormat::MedvlmR1 => medvlm_r1::parse(path, opts, images),
        ImportFormat::Medvlthinker => medvlthinker::parse(path, opts, images),
        ImportFormat::VqaRad => mevf::parse_vqa_rad(path, opts, images),
        ImportFormat::Slake => mevf::parse_slake(path, opts, images),
        ImportFormat::Folder => folder::parse(path, opts, images),
        ImportFormat::Parquet => parquet::parse(path, opts, images),
    }
}

/// `PAR1` at the start of the file.
fn is_parquet(path: &Path) -> bool {
    use std::io::Read as _;
    let mut magic = [0u8; 4];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && &magic == b"PAR1"
}

/// Short stable hash (first 12 hex digits of SHA-256) used to build uids for records without an id.
pub(crate) fn short_hash(parts: &[&str]) -> String {
    use sha2::{Digest as _, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0x1f]);
    }
    crate::io::images::hex(&h.finalize())[..12].to_string()
}

/// A JSON scalar as text (`4` -> `"4"`, `"Yes "` -> `"Yes "`); `None` for null, arrays and objects.
pub(crate) fn scalar_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Resolves an image path given in a record against the folder of the file that named it.
pub(crate) fn image_path(base_dir: &Path, given: &str) -> PathBuf {
    let p = Path::new(given.trim());
    if p.is_absolute() { p.to_path_buf() } else { base_dir.join(p) }
}
