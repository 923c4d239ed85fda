//! Runs an import into a project: detect, parse, then insert in small transactions so that every
//! acknowledged chunk survives a crash, with progress and cancellation between chunks.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::{ImportError, ImportFormat, Problem, detect, parse};
use crate::domain::{Provenance, Split};
use crate::io::images::ImageResolver;
use crate::jobs::ProgressSink;
use crate::store::Project;

/// Items per insert transaction: small enough that a kill loses at most one uncommitted chunk.
pub const CHUNK: usize = 256;

/// Options applying to every file of an import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Force this format instead of detecting it.
    pub format: Option<ImportFormat>,
    /// Force every item into this split (default: from the record or the file name).
    pub split: Option<Split>,
    /// Override the source tag.
    pub source: Option<String>,
    /// Tags added to every item.
    pub tags: Vec<String>,
    /// Read images outside each input's folder too (refused by default).
    pub allow_outside: bool,
}

/// What happened to one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The file or folder.
    pub path: PathBuf,
    /// The format used.
    pub format: Option<ImportFormat>,
    /// Items written.
    pub imported: usize,
    /// Items skipped because their id was already in the project.
    pub duplicates: usize,
    /// Item-image references flagged missing among the imported items.
    pub missing_images: usize,
    /// Records skipped, with reasons.
    pub errors: Vec<Problem>,
    /// Non-fatal remarks.
    pub warnings: Vec<Problem>,
    /// The file could not be read at all.
    pub fatal: Option<String>,
}

/// The outcome of an import of several files.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportSummary {
    /// One report per input.
    pub files: Vec<FileReport>,
    /// True when the import was cancelled before the end.
    pub cancelled: bool,
}

impl ImportSummary {
    /// Items written.
    pub fn imported(&self) -> usize {
        self.files.iter().map(|f| f.imported).sum()
    }

    /// Items already present.
    pub fn duplicates(&self) -> usize {
        self.files.iter().map(|f| f.duplicates).sum()
    }

    /// Records rejected.
    pub fn failed(&self) -> usize {
        self.files.iter().map(|f| f.errors.len()).sum()
    }

    /// Missing image references among imported items.
    pub fn missing_images(&self) -> usize {
        self.files.iter().map(|f| f.missing_images).sum()
    }

    /// True when no record could be used (nothing imported and nothing already present).
    pub fn nothing_usable(&self) -> bool {
        self.imported() == 0 && self.duplicates() == 0
    }

    /// Rejected records counted by reason (the text before any quoted value), most frequent first.
    pub fn reasons(&self) -> Vec<(String, usize)> {
        let mut by: BTreeMap<String, usize> = BTreeMap::new();
        for f in &self.files {
            for e in &f.errors {
                let key = e.reason.split(['"', '(']).next().unwrap_or(&e.reason).trim().to_string();
                *by.entry(key).or_default() += 1;
            }
            if let Some(fatal) = &f.fatal {
                *by.entry(fatal.clone()).or_default() += 1;
            }
        }
        let mut v: Vec<_> = by.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }

    /// One line: `imported 3515, skipped 2 (1 already present, 1 invalid), 0 images missing`.
    pub fn one_line(&self) -> String {
        let skipped = self.duplicates() + self.failed();
        let mut s = format!(
            "imported {}, skipped {skipped} ({} already present, {} invalid), {} images missing",
            self.imported(),
            self.duplicates(),
            self.failed(),
            self.missing_images()
        );
        if self.cancelled {
            s.push_str(" (cancelled)");
        }
        s
    }
}

/// Imports every path into `project`. A file that cannot be read is reported and the others still
/// import. Returns the summary; `Err` only when the project itself cannot be written.
///
/// # Errors
/// [`ImportError::Store`] when writing to the project fails.
pub fn import_paths(
    project: &mut Project,
    paths: &[PathBuf],
    opts: &ImportOptions,
    progress: &dyn ProgressSink,
) -> Result<ImportSummary, ImportError> {
    let mut summary = ImportSummary::default();
    let mut images = ImageResolver::new(opts.allow_outside);
    // DICOM images a manifest names are rendered into the project's folder.
    images.set_render_dir(&project.dir().join("dicom-renders"));
    // Image bytes embedded in Parquet files are kept in the project by content hash.
    images.set_embed_dir(&project.dir().join("embedded-images"));
    for (n, path) in paths.iter().enumerate() {
        if progress.is_cancelled() {
            summary.cancelled = true;
            break;
        }
        let shown = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        progress.update(&format!("Reading {shown} ({}/{})", n + 1, paths.len()), 0, None);
        let mut report = FileReport {
            path: path.clone(),
            format: None,
            imported: 0,
            duplicates: 0,
            missing_images: 0,
            errors: vec![],
            warnings: vec![],
            fatal: None,
        };
        let format = match opts.format.map_or_else(|| detect(path), Ok) {
            Ok(f) => f,
            Err(e) => {
                report.fatal = Some(e.to_string());
                summary.files.push(report);
                continue;
            }
        };
        report.format = Some(format);
        // Images are read only from the input's own folder (unless allowed).
        images.set_root(if path.is_dir() { path } else { path.parent().unwrap_or(std::path::Path::new(".")) });
        let parsed = match parse(path, format, opts, &mut images) {
            Ok(p) => p,
            Err(ImportError::Store(e)) => return Err(ImportError::Store(e)),
            Err(e) => {
                report.fatal = Some(e.to_string());
                summary.files.push(report);
                continue;
            }
        };
        let mut parsed = parsed;
        mark_burned_in_text(&mut parsed.items, &images);
        report.errors = parsed.errors;
        report.warnings = parsed.warnings;
        let prov = Provenance {
            format: format.as_str().to_string(),
            // Inside the project folder: relative (the folder can move). Elsewhere: absolute.
            source_path: match project.store_image_path(path) {
                rel if !rel.starts_with("..") && !std::path::Path::new(&rel).is_absolute() => rel,
                _ => crate::util::absolute(path).to_string_lossy().into_owned(),
            },
            imported_at: crate::util::now_rfc3339(),
            tool_version: crate::VERSION.to_string(),
        };
        let batch = project.begin_import(&prov)?;
        let total = parsed.items.len() as u64;
        for chunk in parsed.items.chunks(CHUNK) {
            if progress.is_cancelled() {
                summary.cancelled = true;
                break;
            }
            let outcome = project.insert_items(Some(batch), chunk)?;
            report.imported += outcome.inserted;
            report.duplicates += outcome.duplicates;
            report.missing_images += chunk.iter().map(crate::domain::VqaItem::missing_images).sum::<usize>();
            // Acknowledged: this chunk is committed.
            progress.update(&format!("Importing {shown}"), (report.imported + report.duplicates) as u64, Some(total));
        }
        let report_json = serde_json::to_string(&report).unwrap_or_default();
        project.finish_import(batch, report.imported, report.duplicates, report.errors.len(), &report_json)?;
        summary.files.push(report);
        if summary.cancelled {
            break;
        }
    }
    Ok(summary)
}

/// Items whose first image (a PNG/JPEG, or a DICOM file's rendering) shows lines of text (a
/// caption strip, scanner annotations)
/// are tagged `burned-in-text`, with the lines' boxes in `meta.text_found` for the Inspector's
/// one-step black-out. Best effort ([`crate::imaging::text`]).
fn mark_burned_in_text(items: &mut [crate::domain::VqaItem], images: &ImageResolver) {
    for item in items {
        let Some(first) = item.images.first() else { continue };
        let found = images.text_found(&first.path);
        if found.is_empty() {
            continue;
        }
        item.meta.insert(TEXT_FOUND.into(), serde_json::json!(found));
        if !item.tags.iter().any(|t| t == crate::io::export::BURNED_IN_TAG) {
            item.tags.push(crate::io::export::BURNED_IN_TAG.into());
        }
    }
}

/// The item metadata key holding the boxes of burned-in text found in its first image.
pub const TEXT_FOUND: &str = "text_found";
