//! UI preferences persisted in eframe's storage (not project data): theme, layout, recent projects.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::command::Workspace;

/// How many recent projects the File menu lists.
pub const MAX_RECENT: usize = 8;

/// Persisted preferences. New fields must have defaults so old files still load.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Prefs {
    /// Dark theme (the default: reading rooms are dark).
    pub dark: bool,
    /// The project to reopen at start.
    pub last_project: Option<PathBuf>,
    /// Recently opened projects, newest first.
    pub recent: Vec<PathBuf>,
    /// The tile layout.
    pub tree: egui_tiles::Tree<Workspace>,
    /// Compute backend for runs started from the GUI.
    pub backend: crate::model::device::BackendChoice,
    /// GPU autotune effort (takes effect at the next start: the GPU runtime reads it once).
    pub autotune: crate::model::gpu::AutotuneLevel,
}

impl Default for Prefs {
    fn default() -> Self {
        Self {
            dark: true,
            last_project: None,
            recent: Vec::new(),
            tree: default_tree(),
            backend: crate::model::device::BackendChoice::Auto,
            autotune: crate::model::gpu::AutotuneLevel::Minimal,
        }
    }
}

impl Prefs {
    /// Records `path` as the last and most recent project.
    pub fn remember(&mut self, path: &std::path::Path) {
        let path = path.to_path_buf();
        self.recent.retain(|p| *p != path);
        self.recent.insert(0, path.clone());
        self.recent.truncate(MAX_RECENT);
        self.last_project = Some(path);
    }
}

/// The default layout: Curation and Training tabs on the left, Inspector and Review on the right.
pub fn default_tree() -> egui_tiles::Tree<Workspace> {
    let mut tiles = egui_tiles::Tiles::default();
    let curation = tiles.insert_pane(Workspace::Curation);
    let training = tiles.insert_pane(Workspace::Training);
    let inspector = tiles.insert_pane(Workspace::Inspector);
    let review = tiles.insert_pane(Workspace::Review);
    let left = tiles.insert_tab_tile(vec![curation, training]);
    let right = tiles.insert_tab_tile(vec![inspector, review]);
    let mut lin = egui_tiles::Linear::new(egui_tiles::LinearDir::Horizontal, vec![left, right]);
    lin.shares.set_share(left, 1.6);
    lin.shares.set_share(right, 1.0);
    let root = tiles.insert_container(egui_tiles::Container::Linear(lin));
    egui_tiles::Tree::new(eframe::egui::Id::unique("workbench_tiles"), root, tiles)
}
