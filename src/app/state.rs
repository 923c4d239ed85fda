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
    /// Where the items came from.
    pub provenance: Vec<Provenance>,
    /// Source tags present, sorted.
    pub sources: Vec<String>,
    /// Training runs with their metrics.
    pub runs: std::collections::BTreeMap<i64, crate::metrics::RunSeries>,
    /// The latest run's most recent rollouts `(run, step, item uid, rollout)`.
    pub rollouts: Vec<(i64, usize, String, crate::store::RolloutRow)>,
}

/// The decoded image of the inspected item, ready to upload as a texture.
#[derive(Clone)]
pub struct LoadedImage {
    /// Pixels.
    pub image: eframe::egui::ColorImage,
    /// Original size in pixels.
    pub size: [usize; 2],
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
}

/// Application state shared by all panes.
#[derive(Default)]
pub struct AppState {
    /// The open project, once loaded.
    pub project: Option<ProjectView>,
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
}

impl AppState {
    /// Recomputes [`AppState::visible`] from the filter.
    pub fn refilter(&mut self) {
        self.visible = match &self.project {
            Some(p) => self.filter.apply(&p.rows),
            None => Vec::new(),
        };
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

    /// Counts over the visible rows.
    pub fn visible_stats(&self) -> DatasetStats {
        match &self.project {
            Some(p) => DatasetStats::from_rows(self.visible.iter().map(|&i| &p.rows[i])),
            None => DatasetStats::default(),
        }
    }
}
