//! Exporting the project's items from the GUI: the dialog's draft, and the export job. The PHI
//! gate is the library's: items that may show burned-in patient text are named before the export
//! and go out only when the user ticks the confirmation for this export.

use std::path::PathBuf;

use super::WorkbenchApp;
use super::loading::JobOutput;
use crate::domain::Split;
use crate::io::export::{ExportFormat, ExportOptions};

/// What the export dialog holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportDraft {
    /// Layout.
    pub format: ExportFormat,
    /// Only this split.
    pub split: Option<Split>,
    /// Include items a curator excluded.
    pub include_excluded: bool,
    /// Output file, as typed.
    pub out: String,
    /// Items tagged `burned-in-text` in the project: (not excluded, all), shown before exporting.
    pub burned_in: (usize, usize),
    /// The user's confirmation, for this export, that burned-in items may go out.
    pub allow_burned_in_text: bool,
    /// Unified JSONL: also write de-identified copies of the source DICOM files (regions blacked
    /// out of a rendering blacked out of its copy too).
    pub dicom_copies: bool,
    /// The PS3.15 options of those copies.
    pub deid: crate::io::dicom_deid_options::DeidOptions,
}

impl ExportDraft {
    /// A draft writing next to the project file.
    pub fn new(project: &std::path::Path, burned_in: (usize, usize)) -> Self {
        let stem = project.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "export".into());
        let out = project.with_file_name(format!("{stem}-export.jsonl"));
        Self {
            format: ExportFormat::Jsonl,
            split: None,
            include_excluded: false,
            out: out.to_string_lossy().into_owned(),
            burned_in,
            allow_burned_in_text: false,
            dicom_copies: false,
            deid: crate::io::dicom_deid_options::DeidOptions::default(),
        }
    }

    /// The file extension the format writes.
    pub fn extension(format: ExportFormat) -> &'static str {
        if format == ExportFormat::VerlParquet { "parquet" } else { "jsonl" }
    }

    /// Burned-in items this export would hold (excluded ones only when they are included).
    pub fn burned(&self) -> usize {
        if self.include_excluded { self.burned_in.1 } else { self.burned_in.0 }
    }

    /// The export can start: a path, and the confirmation when burned-in items would go out.
    pub fn ready(&self) -> bool {
        !self.out.trim().is_empty() && (self.burned() == 0 || self.allow_burned_in_text)
    }
}

impl WorkbenchApp {
    /// Runs the export of `d` in the background.
    pub(super) fn start_export(&mut self, d: ExportDraft) {
        let out = PathBuf::from(d.out.trim());
        let opts = ExportOptions {
            format: d.format,
            split: d.split,
            include_excluded: d.include_excluded,
            allow_burned_in_text: d.allow_burned_in_text,
            dicom_copies: d.dicom_copies && d.format == ExportFormat::Jsonl,
            deid: d.deid,
            ..ExportOptions::default()
        };
        self.spawn_on_project("export", move |path, ctx| {
            JobOutput::Exported(
                crate::store::Project::open(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|p| crate::io::export::export(&p, &opts, &out, ctx).map_err(|e| e.to_string())),
            )
        });
    }
}
