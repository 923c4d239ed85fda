//! Honest empty states for the workspaces whose engines come later: they say what will appear and how to get it.

use eframe::egui;

use super::theme;
use crate::app::state::AppState;

fn empty_state(ui: &mut egui::Ui, title: &str, lines: &[&str]) {
    ui.heading(title);
    ui.add_space(6.0);
    let weak = theme::of(ui).weak;
    for l in lines {
        ui.add(egui::Label::new(egui::RichText::new(*l).color(weak)).wrap());
        ui.add_space(4.0);
    }
}

/// The Review workspace before reasoning traces exist.
pub fn review(ui: &mut egui::Ui, _state: &AppState) {
    empty_state(
        ui,
        "Review",
        &[
            "No reasoning traces to review yet.",
            "Rollouts from training runs and evaluations will appear here: the image on the left, the \
             model's <think> reasoning on the right, its <answer> as a badge next to the key (correct or \
             not), format failures flagged, with a keyboard-first rubric for clinicians.",
        ],
    );
}
