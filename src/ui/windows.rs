//! Floating windows of the Curation workspace: the version diff (added / removed / edited items,
//! the chosen one side by side with its changed fields highlighted) and the leakage check's pairs.

use eframe::egui;

use super::theme;
use crate::app::Command;
use crate::app::state::{AppState, DiffView};
use crate::domain::VqaItem;

/// Draws the open windows.
pub fn show(ctx: &egui::Context, state: &mut AppState, queue: &mut Vec<Command>) {
    let mut open = state.curation.diff.is_some();
    if let Some(d) = &mut state.curation.diff {
        egui::Window::new(format!("Version diff: {:?} vs live items", d.name))
            .id(egui::Id::unique("version_diff"))
            .open(&mut open)
            .default_size([760.0, 460.0])
            .show(ctx, |ui| diff_window(ui, d));
    }
    if !open {
        state.curation.diff = None;
    }
    let mut open = state.curation.leaks.is_some();
    if let Some(leaks) = &state.curation.leaks {
        let rows = state.project.as_ref().map(|p| &p.rows);
        egui::Window::new(format!("Leakage across splits: {} pairs", leaks.len()))
            .id(egui::Id::unique("leakage"))
            .open(&mut open)
            .default_size([620.0, 360.0])
            .show(ctx, |ui| {
                if leaks.is_empty() {
                    ui.label(
                        "No item shares its image bytes, or its question and image, with an item of another split.",
                    );
                    return;
                }
                ui.weak("At most 5 pairs are listed per shared image or question. Click an id to inspect it.");
                egui::ScrollArea::vertical().show(ui, |ui| {
                    egui::Grid::new("leak_grid").striped(true).num_columns(3).show(ui, |ui| {
                        ui.strong("Why");
                        ui.strong("Item");
                        ui.strong("Leaks into");
                        ui.end_row();
                        for l in leaks.iter().take(2000) {
                            ui.label(match l.kind {
                                crate::curation::leakage::LeakKind::SameImage => "same image bytes",
                                crate::curation::leakage::LeakKind::SameQuestionAndImageName => "same question + image",
                            });
                            for (uid, split) in [&l.a, &l.b] {
                                if ui.link(format!("{uid} ({split})")).clicked()
                                    && let Some(r) = rows.and_then(|rows| rows.iter().find(|r| &r.uid == uid))
                                {
                                    queue.push(Command::SelectItem(r.id));
                                    queue.push(Command::ShowWorkspace(crate::app::Workspace::Inspector));
                                }
                            }
                            ui.end_row();
                        }
                    });
                });
            });
    }
    if !open {
        state.curation.leaks = None;
    }
}

fn diff_window(ui: &mut egui::Ui, d: &mut DiffView) {
    let tokens = theme::of(ui);
    ui.label(format!(
        "{} added, {} removed, {} edited{}",
        d.diff.added.len(),
        d.diff.removed.len(),
        d.diff.edited.len(),
        if d.entries.len() < d.diff.added.len() + d.diff.removed.len() + d.diff.edited.len() {
            format!(" (the first {} shown)", d.entries.len())
        } else {
            String::new()
        }
    ));
    if d.entries.is_empty() {
        ui.label("Nothing changed since this version.");
        return;
    }
    egui::Panel::left("diff_list").resizable(true).default_size(220.0).show(ui, |ui| {
        egui::ScrollArea::vertical().show_rows(ui, 18.0, d.entries.len(), |ui, range| {
            for i in range {
                let e = &d.entries[i];
                let (mark, color) = match (&e.old, &e.new) {
                    (None, _) => ("+", tokens.ok),
                    (_, None) => ("-", tokens.warn),
                    _ => ("~", ui.visuals().text_color()),
                };
                let text = egui::RichText::new(format!("{mark} {}", e.uid)).color(color).monospace();
                if ui.selectable_label(d.selected == i, text).clicked() {
                    d.selected = i;
                }
            }
        });
    });
    let Some(e) = d.entries.get(d.selected.min(d.entries.len() - 1)) else { return };
    egui::ScrollArea::vertical().id_salt("diff_sides").show(ui, |ui| {
        ui.columns(2, |cols| {
            cols[0].strong(format!("In version {:?}", d.name));
            cols[1].strong("Live items");
            side(&mut cols[0], e.old.as_ref(), &e.fields, "added since the version");
            side(&mut cols[1], e.new.as_ref(), &e.fields, "removed since the version");
        });
    });
}

/// One side of the comparison: each field, the changed ones highlighted.
fn side(ui: &mut egui::Ui, item: Option<&VqaItem>, changed: &[String], absent: &str) {
    let tokens = theme::of(ui);
    let Some(item) = item else {
        ui.weak(format!("(not present: {absent})"));
        return;
    };
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(item) else { return };
    // Changed fields first, so the difference is visible without scrolling.
    let (mut first, rest): (Vec<_>, Vec<_>) = fields.into_iter().partition(|(k, _)| changed.contains(k));
    first.extend(rest);
    for (k, v) in first {
        let text = match &v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let is_changed = changed.contains(&k);
        ui.horizontal_wrapped(|ui| {
            let key = egui::RichText::new(format!("{k}:")).weak();
            ui.label(key);
            let mut value = egui::RichText::new(text);
            if is_changed {
                value = value.color(tokens.accent).strong();
            }
            ui.add(egui::Label::new(value).wrap());
        });
    }
}
