//! Background jobs the app starts: opening a project, loading an item and its image, importing,
//! and native file dialogs. Each runs on a named thread with its own database connection.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use eframe::egui;

use super::WorkbenchApp;
use super::state::{Inspected, LoadedImage, ProjectView};
use crate::imaging::gpu::GreyImage;
use crate::io::import::{ImportOptions, ImportSummary, import_paths};
use crate::jobs::{JobCtx, ProgressSink as _};
use crate::store::Project;

/// What to open.
#[derive(Debug, Clone)]
pub enum OpenTarget {
    /// A project file.
    Path(PathBuf),
    /// The bundled sample project (generated into the data folder if absent).
    Sample,
    /// A new, empty project at this path.
    Create(PathBuf),
}

/// Which file dialog returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogKind {
    /// Open project.
    Open,
    /// New project (save).
    New,
    /// Import files.
    ImportFiles,
    /// Import a folder.
    ImportFolder,
    /// A GRPO run config (TOML) for the Training form.
    TrainingConfig,
}

/// Results of the app's jobs.
pub enum JobOutput {
    /// A project was opened and read.
    Project(Result<ProjectView, String>),
    /// An item and its image were read.
    Item(Result<Inspected, String>),
    /// Another volume of an item's 4-D NIfTI scan was read (item id, scan).
    ScanVolume(i64, Result<Arc<crate::imaging::scan::ScanStack>, String>),
    /// An import finished (the project is reloaded afterwards).
    Imported(Result<ImportSummary, String>),
    /// A pass-count job ended (the project is reloaded afterwards).
    PassCounts(Result<crate::curation::passrate::PassrateReport, String>),
    /// An edit, bulk action, undo/redo or version finished: a message for a toast (the project is reloaded).
    Edited(Result<String, String>),
    /// A version diff was computed.
    Diff(Result<super::state::DiffView, String>),
    /// The leakage check finished.
    Leaks(Result<Vec<crate::curation::leakage::Leak>, String>),
    /// A file dialog closed (`None` = cancelled or unavailable).
    Picked(DialogKind, Option<Vec<PathBuf>>),
    /// The Review queue was read.
    ReviewQueue(Result<super::review::ReviewQueue, String>),
    /// A rating was stored (its id).
    Rated(Result<i64, String>),
    /// A blind A/B judgment was stored (its id) or not.
    Judged(Result<i64, String>),
    /// A new version of the review guidelines was stored (its version) or not.
    GuidelinesSaved(Result<i64, String>),
    /// An export finished.
    Exported(Result<crate::io::export::ExportSummary, String>),
}

/// Changes of a version diff loaded with both sides for the side-by-side view.
const DIFF_DETAIL_LIMIT: usize = 5000;

/// Largest side of an image uploaded to the GPU for display.
const MAX_TEXTURE_SIDE: u32 = 2048;

fn read_project(target: OpenTarget, ctx: &JobCtx) -> Result<ProjectView, String> {
    let path = match target {
        OpenTarget::Path(p) => p,
        OpenTarget::Sample => {
            ctx.update("Locating the sample project", 0, None);
            crate::sample::bundled_project(ctx).map_err(|e| e.to_string())?
        }
        OpenTarget::Create(p) => {
            Project::create(&p).map_err(|e| e.to_string())?;
            p
        }
    };
    ctx.update("Reading items", 0, None);
    let project = Project::open(&path).map_err(|e| e.to_string())?;
    let rows = project.item_rows().map_err(|e| e.to_string())?;
    let stats = crate::domain::DatasetStats::from_rows(&rows);
    let provenance = project.provenance().map_err(|e| e.to_string())?;
    let sources = stats.by_source.keys().cloned().collect();
    let mut runs = std::collections::BTreeMap::new();
    for r in project.runs().map_err(|e| e.to_string())?.into_iter().filter(|r| r.kind == crate::store::RunKind::Grpo) {
        let steps = project.run_steps(r.id).map_err(|e| e.to_string())?;
        let metrics = project.run_metrics(r.id).map_err(|e| e.to_string())?;
        runs.insert(
            r.id,
            crate::metrics::RunSeries {
                name: r.name,
                status: r.status,
                steps,
                metrics,
                message: r.message,
                config_json: r.config_json,
            },
        );
    }
    let uid_of: std::collections::HashMap<i64, String> = rows.iter().map(|r| (r.id, r.uid.clone())).collect();
    let mut rollouts = Vec::new();
    if let Some(&last) = runs.keys().next_back() {
        for (step, r) in project.recent_rollouts(last, 60).map_err(|e| e.to_string())? {
            let uid = uid_of.get(&r.item_id).cloned().unwrap_or_default();
            rollouts.push((last, step as usize, uid, r));
        }
    }
    let estimate_keys = project.estimate_keys().map_err(|e| e.to_string())?;
    let mut estimates_by_row = Vec::with_capacity(estimate_keys.len());
    for (k, _) in &estimate_keys {
        let e = project.estimates(k).map_err(|e| e.to_string())?;
        estimates_by_row.push(rows.iter().map(|r| e.get(&r.id).copied()).collect());
    }
    let run_estimates = match runs.keys().next_back() {
        Some(&last) => project.run_estimates(last).map_err(|e| e.to_string())?,
        None => Default::default(),
    };
    let scores = crate::train::compare::scores(&project).map_err(|e| e.to_string())?;
    let versions = project.versions().map_err(|e| e.to_string())?;
    let search_keys = rows.iter().map(crate::domain::ItemFilter::search_key).collect();
    let damaged = project.damaged_items().map_err(|e| e.to_string())?;
    Ok(ProjectView {
        damaged,
        estimates_by_row,
        search_keys,
        versions,
        scores,
        estimate_keys,
        run_estimates,
        path: project.path().to_path_buf(),
        name: project.name(),
        rows,
        stats,
        provenance,
        sources,
        runs,
        rollouts,
    })
}

fn read_item(path: &Path, id: i64) -> Result<Inspected, String> {
    let project = Project::open(path).map_err(|e| e.to_string())?;
    let item = project.item(id).map_err(|e| e.to_string())?;
    let image_path = item.images.first().map(|i| project.resolve_image(&i.path));
    let image = match (&image_path, item.images.first()) {
        (None, _) => Err("this item has no image (text-only)".to_string()),
        (Some(p), Some(r)) if r.is_missing() => Err(format!("image file missing: {}", p.display())),
        (Some(p), _) => decode(p).map(|mut img| {
            // The scan behind a DICOM/NIfTI rendering, for slice scrolling and windowing in HU.
            // A redacted item shows its redacted rendering, not the scan (which still has the text).
            let redacted = item.tags.iter().any(|t| t == crate::curation::redact::REDACTED_TAG);
            img.scan = item
                .meta
                .get(crate::io::import::SCAN_SOURCE)
                .and_then(|v| v.as_str())
                .filter(|_| !redacted)
                .map(|src| crate::imaging::scan::load(Path::new(src)).map(Arc::new));
            img
        }),
    };
    let samples = project.item_pass_samples(id, 64).map_err(|e| e.to_string())?;
    Ok(Inspected { id, item, image_path, image, samples })
}

fn decode(path: &Path) -> Result<LoadedImage, String> {
    let img = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| format!("cannot read image ({e}): {}", path.display()))?
        .decode()
        .map_err(|e| format!("cannot decode image ({e}): {}", path.display()))?;
    let size = [img.width() as usize, img.height() as usize];
    let img = if img.width().max(img.height()) > MAX_TEXTURE_SIDE {
        img.resize(MAX_TEXTURE_SIDE, MAX_TEXTURE_SIDE, image::imageops::FilterType::Triangle)
    } else {
        img
    };
    let grey = match img.color() {
        image::ColorType::L8 | image::ColorType::La8 => {
            let l = img.to_luma8();
            Some(l.as_raw().iter().map(|&v| f32::from(v)).collect::<Vec<f32>>())
        }
        image::ColorType::L16 | image::ColorType::La16 => {
            let l = img.to_luma16();
            Some(l.as_raw().iter().map(|&v| f32::from(v)).collect())
        }
        // Radiographs are often stored as colour JPEGs with R = G = B: grey all the same.
        _ => {
            let rgb = img.to_rgb8();
            rgb.pixels()
                .all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2])
                .then(|| rgb.pixels().map(|p| f32::from(p.0[0])).collect())
        }
    }
    .map(|values| Arc::new(GreyImage::new([img.width() as usize, img.height() as usize], values)));
    let rgba = img.to_rgba8();
    let image =
        egui::ColorImage::from_rgba_unmultiplied([rgba.width() as usize, rgba.height() as usize], rgba.as_raw());
    Ok(LoadedImage { image, size, grey, scan: None })
}

impl WorkbenchApp {
    /// Starts opening a project in the background.
    pub(super) fn open(&mut self, target: OpenTarget) {
        self.state.opening = Some(match &target {
            OpenTarget::Path(p) | OpenTarget::Create(p) => p.clone(),
            OpenTarget::Sample => PathBuf::from(crate::sample::PROJECT_FILE),
        });
        let r = self.jobs.spawn("open project", move |ctx| JobOutput::Project(read_project(target, ctx)));
        if let Err(e) = r {
            self.toasts.error(e.to_string());
        }
    }

    /// Starts loading the selected item's details and image.
    pub(super) fn load_item(&mut self, id: i64) {
        let Some(p) = &self.state.project else { return };
        let path = p.path.clone();
        // One loader at a time; a newer selection is loaded when this one returns.
        if self.jobs.is_running("load item") {
            return;
        }
        if let Err(e) = self.jobs.spawn("load item", move |_| JobOutput::Item(read_item(&path, id))) {
            self.toasts.error(e.to_string());
        }
    }

    /// Starts loading the 4-D NIfTI volume the viewer asks for, when it differs from the one shown.
    pub(super) fn load_scan_volume(&mut self) {
        let Some(want) = self.state.viewer.volume else { return };
        let Some(ins) = &self.state.inspected else { return };
        let Some(Ok(scan)) = ins.image.as_ref().ok().and_then(|i| i.scan.as_ref()) else { return };
        if scan.volume == want || self.state.viewer.item != ins.id || self.jobs.is_running("load volume") {
            return;
        }
        let Some(source) = ins.item.meta.get(crate::io::import::SCAN_SOURCE).and_then(|v| v.as_str()) else { return };
        let (id, source) = (ins.id, PathBuf::from(source));
        let job = move |_: &crate::jobs::JobCtx| {
            JobOutput::ScanVolume(id, crate::imaging::scan::load_volume(&source, want).map(Arc::new))
        };
        if let Err(e) = self.jobs.spawn("load volume", job) {
            self.toasts.error(e.to_string());
            self.state.viewer.volume = None;
        }
    }

    /// Starts importing `paths` into the open project.
    pub(super) fn start_import(&mut self, paths: Vec<PathBuf>, opts: ImportOptions) {
        let Some(p) = &self.state.project else {
            self.toasts.error("Open or create a project before importing");
            return;
        };
        let project_path = p.path.clone();
        let r = self.jobs.spawn("import", move |ctx| {
            let run = || -> Result<ImportSummary, String> {
                let mut project = Project::open(&project_path).map_err(|e| e.to_string())?;
                import_paths(&mut project, &paths, &opts, ctx).map_err(|e| e.to_string())
            };
            JobOutput::Imported(run())
        });
        if let Err(e) = r {
            self.toasts.error(e.to_string());
        }
    }

    /// [`Self::spawn_on_project`] for a write: queued behind the project's other writes, so
    /// quick successive ones (verdicts, judgments, an edit and its undo) all land, in order.
    pub(super) fn write_on_project(
        &mut self,
        name: &'static str,
        work: impl FnOnce(PathBuf, &JobCtx) -> JobOutput + Send + 'static,
    ) {
        self.on_project(name, true, work);
    }

    /// Runs `work` as a named job with the open project's path (nothing without a project); a job
    /// that cannot start (one of that name is running) becomes a toast.
    pub(super) fn spawn_on_project(
        &mut self,
        name: &'static str,
        work: impl FnOnce(PathBuf, &JobCtx) -> JobOutput + Send + 'static,
    ) {
        self.on_project(name, false, work);
    }

    fn on_project(
        &mut self,
        name: &'static str,
        queued: bool,
        work: impl FnOnce(PathBuf, &JobCtx) -> JobOutput + Send + 'static,
    ) {
        let Some(p) = &self.state.project else { return };
        let path = p.path.clone();
        let work = move |ctx: &JobCtx| work(path, ctx);
        let started = if queued {
            self.jobs.spawn_queued("project writes", name, work)
        } else {
            self.jobs.spawn(name, work).map(|_| ())
        };
        if let Err(e) = started {
            self.toasts.error(e.to_string());
        }
    }

    /// Starts a pass-count job over the filtered items.
    pub(super) fn start_passrate(&mut self) {
        let Some(p) = &self.state.project else { return };
        let ids: Vec<i64> = self.state.visible.iter().map(|&i| p.rows[i].id).collect();
        if ids.is_empty() {
            self.toasts.warning("No items match the filters: nothing to estimate");
            return;
        }
        let mut opts = self.state.curation.job.clone();
        opts.item_ids = Some(ids);
        self.spawn_on_project("pass counts", move |path, ctx| {
            JobOutput::PassCounts(crate::curation::passrate::estimate(&path, &opts, ctx).map_err(|e| e.to_string()))
        });
    }

    /// Computes the diff from a version to the live items.
    pub(super) fn start_diff(&mut self, name: String) {
        self.spawn_on_project("version diff", move |path, _| {
            let d = Project::open(&path)
                .and_then(|p| p.diff_detail(&name, None, DIFF_DETAIL_LIMIT))
                .map(|(diff, entries)| super::state::DiffView { name, diff, entries, selected: 0 });
            JobOutput::Diff(d.map_err(|e| e.to_string()))
        });
    }

    /// Starts the leakage check over every item.
    pub(super) fn start_leakage(&mut self) {
        self.spawn_on_project("leakage check", move |path, ctx| {
            ctx.update("Checking leakage across splits", 0, None);
            let leaks = Project::open(&path).and_then(|p| p.items()).map(|items| {
                let items: Vec<_> = items.into_iter().map(|(_, it)| it).collect();
                crate::curation::leakage::find_leaks(&items, 5)
            });
            JobOutput::Leaks(leaks.map_err(|e| e.to_string()))
        });
    }

    /// Starts evaluating a run's base model and checkpoints on the test split.
    pub(super) fn start_compare(&mut self, run: i64) {
        self.spawn_on_project("evaluate checkpoints", move |path, ctx| {
            let out = crate::train::compare::compare_checkpoints(&path, run, crate::domain::Split::Test, ctx)
                .map(|v| format!("Evaluated {} model(s) of run {run}", v.len()))
                .map_err(|e| e.to_string());
            JobOutput::Edited(out)
        });
    }

    /// Opens a native file dialog on a worker thread (the UI keeps running).
    pub(super) fn file_dialog(&mut self, kind: DialogKind) {
        let start_dir = self.state.project.as_ref().and_then(|p| p.path.parent().map(Path::to_path_buf));
        let r = self.jobs.spawn("file dialog", move |_| {
            let mut d = rfd::FileDialog::new();
            if let Some(dir) = start_dir {
                d = d.set_directory(dir);
            }
            let picked = match kind {
                DialogKind::Open => d.add_filter("MedVLM project", &["medvlm"]).pick_file().map(|p| vec![p]),
                DialogKind::New => d
                    .add_filter("MedVLM project", &["medvlm"])
                    .set_file_name("project.medvlm")
                    .save_file()
                    .map(|p| vec![p]),
                DialogKind::ImportFiles => d
                    .add_filter("VQA data", &["json", "jsonl", "ndjson", "csv", "parquet"])
                    // Each scan imports as an item without a question; a DICOMDIR as the files it indexes.
                    .add_filter("Scans (DICOM, NIfTI)", &["dcm", "dicom", "ima", "nii", "gz", "hdr"])
                    // DICOM files often have no extension, and a DICOMDIR never has one.
                    .add_filter("All files", &["*"])
                    .pick_files(),
                DialogKind::ImportFolder => d.pick_folder().map(|p| vec![p]),
                DialogKind::TrainingConfig => d.add_filter("GRPO config", &["toml"]).pick_file().map(|p| vec![p]),
            };
            JobOutput::Picked(kind, picked)
        });
        if let Err(e) = r {
            self.toasts.error(e.to_string());
        }
    }
}
