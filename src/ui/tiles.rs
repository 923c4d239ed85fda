//! The tiled layout (egui_tiles): one pane per workspace; tabs can be dragged, split and resized,
//! and the layout is saved with the preferences.

use eframe::egui;

use super::{curation, inspector, review, training};
use crate::app::state::AppState;
use crate::app::{Command, Workspace};

/// What the panes may read and write while drawing.
pub struct Panes<'a> {
    /// Application state (read; the table keeps its scroll/focus flags here).
    pub state: &'a mut AppState,
    /// Commands to apply next frame.
    pub queue: &'a mut Vec<Command>,
    /// Texture cache of the Inspector image.
    pub texture: &'a mut Option<(i64, egui::TextureHandle)>,
}

impl egui_tiles::Behavior<Workspace> for Panes<'_> {
    fn pane_ui(
        &mut self,
        ui: &mut egui::Ui,
        _tile_id: egui_tiles::TileId,
        pane: &mut Workspace,
    ) -> egui_tiles::UiResponse {
        egui::Frame::new().inner_margin(egui::Margin::same(8)).show(ui, |ui| {
            ui.set_min_size(ui.available_size());
            match pane {
                Workspace::Curation => curation::show(ui, self.state, self.queue),
                Workspace::Training => training::show(ui, self.state, self.queue),
                Workspace::Inspector => inspector::show(ui, self.state, self.texture, self.queue),
                Workspace::Review => review::show(ui, self.state, self.texture, self.queue),
            }
        });
        egui_tiles::UiResponse::None
    }

    fn tab_title_for_pane(&mut self, pane: &Workspace) -> egui::WidgetText {
        pane.title().into()
    }

    fn simplification_options(&self) -> egui_tiles::SimplificationOptions {
        egui_tiles::SimplificationOptions { all_panes_must_have_tabs: true, ..Default::default() }
    }
}
