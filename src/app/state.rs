//! What the UI reads each frame: the open project's rows and counts, filters, selection and the
//! inspected item. Only `app` mutates it, when applying commands and job results.

use std::path::PathBuf;

use crate::domain::{DatasetStats, ItemFilter, ItemRow, Provenance, VqaItem};

/// A project loaded for display (read off the UI thread by a job).
#[derive(Debug, Clone)]
pub struct ProjectView {
    /// The project file.
    pub path: PathBuf,
    /// Display name.
    pub name: String,
    /// Every item as a compact row, in id order.
    pub rows: Vec<ItemRow>,
    /// Counts over all items.
    pub stats: DatasetStats,
    /// Lower-cased search text per row (same order as `rows`).
    pub search_keys: Vec<String>,
    /// Where the items came from.
    pub provenance: Vec<Provenance>,
    /// Source tags present, sorted.
    pub sources: Vec<String>,
    /// Training runs with their metrics.
    pub runs: std::collections::BTreeMap<i64, crate::metrics::RunSeries>,
    /// The latest run's most recent rollouts `(run, step, item uid, rollout)`.
    pub rollouts: Vec<(i64, usize, String, crate::store::RolloutRow)>,
    /// Pass-count estimate keys in the project with their item counts, largest first.
    pub estimate_keys: Vec<(crate::store::EstimateKey, usize)>,
    /// Estimates under each key (same order as `estimate_keys`), aligned with `rows`: dense, so
    /// filtering 100,000 rows stays within a frame.
    pub estimates_by_row: Vec<Vec<Option<crate::store::PassCount>>>,
    /// Dataset versions, oldest first.
    pub versions: Vec<crate::store::VersionInfo>,
    /// Stored checkpoint evaluations (Training workspace table).
    pub scores: Vec<crate::train::compare::CheckpointScore>,
    /// The latest run's running pass counts per item (closed loop), with zero-std flags.
    pub run_estimates: std::collections::HashMap<i64, crate::store::RunEstimate>,
    /// Items whose stored row cannot be decoded `(row id, uid, problem)`: left out of every view.
    pub damaged: Vec<(i64, String, String)>,
}

/// The Curation workspace's difficulty settings.
#[derive(Debug, Clone)]
pub struct CurationState {
    /// Index into `ProjectView::estimate_keys`.
    pub key: usize,
    /// Band (defaults to the medium band of the key's k).
    pub band: Option<crate::curation::Band>,
    /// Keep only items inside the band.
    pub band_only: bool,
    /// Keep only items with this pass count (a clicked bar).
    pub pass_count: Option<usize>,
    /// Keep only items in these difficulty classes (facet chips; empty = all).
    pub classes: std::collections::BTreeSet<crate::curation::Difficulty>,
    /// Histogram series split.
    pub split_by: crate::curation::SplitBy,
    /// Settings of the next estimation job.
    pub job: crate::curation::passrate::PassrateOptions,
    /// The version diff window (against the live items), while open.
    pub diff: Option<DiffView>,
    /// The leakage window's pairs, while open.
    pub leaks: Option<Vec<crate::curation::leakage::Leak>>,
    /// The table's sort column and direction (`true`: ascending); `None`: store order.
    pub sort: Option<(crate::domain::sort::SortKey, bool)>,
}

/// What the version diff window shows.
#[derive(Debug, Clone)]
pub struct DiffView {
    /// The older version's name.
    pub name: String,
    /// Uids added, removed, edited.
    pub diff: crate::store::VersionDiff,
    /// Both sides of the first changes.
    pub entries: Vec<crate::store::DiffEntry>,
    /// The entry shown side by side.
    pub selected: usize,
}

impl Default for CurationState {
    fn default() -> Self {
        Self {
            key: 0,
            band: None,
            band_only: false,
            pass_count: None,
            classes: Default::default(),
            split_by: crate::curation::SplitBy::Modality,
            job: crate::curation::passrate::PassrateOptions { k: 8, ..Default::default() },
            diff: None,
            leaks: None,
            sort: None,
        }
    }
}

impl CurationState {
    /// The chosen estimate key and its pass counts by row position, if any.
    pub fn chosen<'a>(
        &self,
        p: &'a ProjectView,
    ) -> Option<(&'a crate::store::EstimateKey, &'a [Option<crate::store::PassCount>])> {
        let i = self.key.min(p.estimate_keys.len().checked_sub(1)?);
        Some((&p.estimate_keys[i].0, p.estimates_by_row.get(i)?))
    }

    /// The band in use for a key's k.
    pub fn band_for(&self, k: usize) -> crate::curation::Band {
        self.band.unwrap_or_else(|| crate::curation::Band::medium(k))
    }

    /// The difficulty constraints for a key's k.
    pub fn filter_for(&self, k: usize) -> crate::curation::query::DifficultyFilter {
        crate::curation::query::DifficultyFilter {
            band: self.band_for(k),
            band_only: self.band_only,
            pass_count: self.pass_count,
            classes: self.classes.clone(),
        }
    }
}

/// The decoded image of the inspected item, ready to upload as a texture.
#[derive(Clone)]
pub struct LoadedImage {
    /// Pixels.
    pub image: eframe::egui::ColorImage,
    /// Original size in pixels.
    pub size: [usize; 2],
    /// A single-channel image's values in its stored units (8- or 16-bit), the size of `image`:
    /// what window/level applies to, on the GPU (uploaded once) or the CPU.
    pub grey: Option<std::sync::Arc<crate::imaging::gpu::GreyImage>>,
    /// The DICOM/NIfTI scan the image was rendered from (slices in HU or scaled values), or why
    /// it could not be read; `None` for plain images.
    pub scan: Option<Result<std::sync::Arc<crate::imaging::scan::ScanStack>, String>>,
}

/// How the image viewer shows the image: zoom (`None` = fit), pan, window/level, invert, flip.
/// Zoom and pan reset for each item; window/level and invert stay, as in a PACS viewer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ViewState {
    /// The item these apply to.
    pub item: i64,
    /// Screen pixels per image pixel (`None` = fit the view).
    pub zoom: Option<f32>,
    /// Offset of the image centre from the view centre, in screen pixels.
    pub pan: [f32; 2],
    /// Window/level on the grey values (`None` = as stored).
    pub window: Option<crate::imaging::window::WindowLevel>,
    /// The preset's name when a preset set the window.
    pub preset: Option<String>,
    /// Inverted grey scale.
    pub invert: bool,
    /// Mirrored left-right.
    pub flip: bool,
    /// The scale last drawn (for ratings).
    pub shown_scale: f32,
    /// The pointer was over the image last frame (digits 1–5 pick presets there).
    pub hovered: bool,
    /// Window/level of grey images is drawn by the shader (the wgpu renderer), else on the CPU.
    pub gpu: bool,
    /// The scan stack shown (index into `ScanStack::stacks`).
    pub stack: usize,
    /// The slice shown (`None`: the one the item's image is).
    pub slice: Option<usize>,
    /// The 4-D NIfTI volume asked for (`None`: the one loaded); the app loads it off the UI thread.
    pub volume: Option<usize>,
    /// The DICOM tag browser's search text.
    pub tag_search: String,
    /// A region drawn with shift + drag, `[x0, y0, x1, y1]` in image pixels (the next span
    /// comment takes it).
    pub region: Option<[f32; 4]>,
    /// Where the region drag started, in image pixels.
    pub region_anchor: Option<[f32; 2]>,
}

/// The selected item with everything the Inspector shows.
#[derive(Clone)]
pub struct Inspected {
    /// Store id.
    pub id: i64,
    /// The full item.
    pub item: VqaItem,
    /// Absolute path of the first image.
    pub image_path: Option<PathBuf>,
    /// The first image, or why it could not be shown.
    pub image: Result<LoadedImage, String>,
    /// The newest pass-count samples of the item `(job name, sample)`.
    pub samples: Vec<(String, crate::store::RolloutRow)>,
}

/// A completion scored live in the Inspector.
#[derive(Debug, Clone)]
pub struct RewardPreview {
    /// The completion typed or pasted.
    pub text: String,
    /// Whose rewards score it: `Training form` or a preset's name.
    pub source: String,
}

impl Default for RewardPreview {
    fn default() -> Self {
        Self { text: String::new(), source: "Training form".into() }
    }
}

/// Application state shared by all panes.
#[derive(Default)]
pub struct AppState {
    /// The open project, once loaded.
    pub project: Option<ProjectView>,
    /// The Inspector's reward preview.
    pub reward_preview: RewardPreview,
    /// Path being opened, while the job runs.
    pub opening: Option<PathBuf>,
    /// Item table filter.
    pub filter: ItemFilter,
    /// Indices into `project.rows` that pass the filter (recomputed when the filter or rows change).
    pub visible: Vec<usize>,
    /// Selected item id.
    pub selected: Option<i64>,
    /// Details of the selected item, once loaded.
    pub inspected: Option<Inspected>,
    /// Scroll the table to the selected row on the next frame.
    pub scroll_to_selected: bool,
    /// Focus the search box on the next frame.
    pub focus_search: bool,
    /// The Training workspace.
    pub training: super::training::TrainingState,
    /// The Review workspace.
    pub review: super::review::ReviewState,
    /// The image viewer's settings (Inspector and Review).
    pub viewer: ViewState,
    /// The Curation workspace's difficulty panel.
    pub curation: CurationState,
    /// Pass-count histogram of the rows passing the facet filters (recomputed with `visible`).
    pub histogram: Option<crate::curation::Histogram>,
    /// Items per difficulty class (hand-set bands included) among the rows passing the facet filters.
    pub class_counts: std::collections::BTreeMap<crate::curation::Difficulty, usize>,
    /// Facet counts over the visible rows (the current result), recomputed with them.
    pub result_stats: DatasetStats,
}

impl AppState {
    /// A one-line warning when `model` names the built-in toy and the open project holds data
    /// other than the synthetic sample.
    pub fn toy_model_warning(&self, model: &str) -> Option<&'static str> {
        let bundled = crate::train::inputs::ModelSource::parse(model).is_bundled();
        let real = self.project.as_ref().is_some_and(|p| p.sources.iter().any(|s| s != "sample"));
        (bundled && real).then_some(
            "⚠ The built-in medvlm-tiny is a synthetic toy trained on the sample's 112-px phantoms: on these \
             images it writes gibberish. Set Model to a Hugging Face checkpoint folder.",
        )
    }

    /// Recomputes [`AppState::visible`] from the filter.
    pub fn refilter(&mut self) {
        self.visible = match &self.project {
            Some(p) => {
                let mut v = if p.search_keys.len() == p.rows.len() {
                    self.filter.apply_with_keys(&p.rows, &p.search_keys)
                } else {
                    self.filter.apply(&p.rows)
                };
                let c = &self.curation;
                let chosen = c.chosen(p);
                let count = |d: &[Option<crate::store::PassCount>], i: usize| d.get(i).copied().flatten();
                self.histogram = chosen.map(|(key, d)| {
                    crate::curation::Histogram::build_from(
                        v.iter().map(|&i| (&p.rows[i], count(d, i))),
                        key.k,
                        c.split_by,
                    )
                });
                let (k, counts) = chosen.map_or((16, &[][..]), |(key, d)| (key.k, d));
                let filter = c.filter_for(k);
                self.class_counts = filter.class_counts(&v, &p.rows, counts);
                filter.retain(&mut v, &p.rows, counts);
                if let Some((key, ascending)) = c.sort {
                    let rate = |i: usize| {
                        count(counts, i)
                            .filter(|pc| pc.n_samples > 0)
                            .map(|pc| pc.n_correct as f64 / pc.n_samples as f64)
                    };
                    crate::domain::sort::sort_rows(&mut v, &p.rows, key, ascending, rate);
                }
                v
            }
            None => Vec::new(),
        };
        self.result_stats = match &self.project {
            Some(p) => DatasetStats::from_rows(self.visible.iter().map(|&i| &p.rows[i])),
            None => DatasetStats::default(),
        };
    }

    /// Sorts the table by `key`, or the other way when it is already sorted by it; the selection
    /// stays and is scrolled to.
    pub fn sort_by(&mut self, key: crate::domain::sort::SortKey) {
        let c = &mut self.curation;
        c.sort = match c.sort {
            Some((k, asc)) if k == key => Some((key, !asc)),
            _ => Some((key, true)),
        };
        self.refilter();
        self.scroll_to_selected = true;
    }

    /// Position of the selected item within the visible rows.
    pub fn selected_position(&self) -> Option<usize> {
        let p = self.project.as_ref()?;
        let id = self.selected?;
        self.visible.iter().position(|&i| p.rows[i].id == id)
    }

    /// The id of the visible row `delta` away from the selection (or the first row).
    pub fn step_selection(&self, delta: isize) -> Option<i64> {
        let p = self.project.as_ref()?;
        if self.visible.is_empty() {
            return None;
        }
        let pos = match self.selected_position() {
            Some(pos) => (pos as isize + delta).clamp(0, self.visible.len() as isize - 1) as usize,
            None => 0,
        };
        Some(p.rows[self.visible[pos]].id)
    }
}
