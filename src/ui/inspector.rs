//! The Inspector workspace: the selected item's image (fit to the pane, on a neutral background)
//! next to its question, lettered options with the key marked, its metadata, pass-count samples and
//! the review verdict buttons.

use eframe::egui;

use super::theme;
use crate::app::Command;
use crate::app::state::{AppState, Inspected};
use crate::domain::{Answer, ReviewStatus, letter};

/// The item's review status and the verdict buttons (A / N / X).
fn review_bar(ui: &mut egui::Ui, state: &AppState, id: i64, queue: &mut Vec<Command>) {
    let status = state
        .project
        .as_ref()
        .and_then(|p| p.rows.binary_search_by_key(&id, |r| r.id).ok().map(|i| p.rows[i].review))
        .unwrap_or_default();
    ui.horizontal(|ui| {
        ui.label("Review:");
        let tokens = theme::of(ui);
        let color = match status {
            ReviewStatus::Accepted => tokens.ok,
            ReviewStatus::Rejected | ReviewStatus::NeedsChanges => tokens.warn,
            ReviewStatus::Unreviewed => ui.visuals().weak_text_color(),
        };
        ui.colored_label(color, status.as_str());
        ui.separator();
        for s in [ReviewStatus::Accepted, ReviewStatus::NeedsChanges, ReviewStatus::Rejected] {
            let c = Command::ReviewSelected(s);
            let key = c.shortcuts().first().map(|k| ui.ctx().format_shortcut(k)).unwrap_or_default();
            let label = match s {
                ReviewStatus::Accepted => "✔ Accept",
                ReviewStatus::NeedsChanges => "⚠ Needs changes",
                _ => "✖ Reject",
            };
            if ui.button(label).on_hover_text(format!("{} ({key})", c.description())).clicked() {
                queue.push(c);
            }
        }
    });
}

/// Uploads the inspected item's image once.
pub(crate) fn ensure_texture(ui: &egui::Ui, ins: &Inspected, texture: &mut Option<(i64, egui::TextureHandle)>) {
    if let Ok(img) = &ins.image
        && texture.as_ref().is_none_or(|(id, _)| *id != ins.id)
    {
        let handle = ui.ctx().load_texture(format!("item-{}", ins.id), img.image.clone(), egui::TextureOptions::LINEAR);
        *texture = Some((ins.id, handle));
    }
}

/// Draws the workspace.
pub fn show(
    ui: &mut egui::Ui,
    state: &AppState,
    texture: &mut Option<(i64, egui::TextureHandle)>,
    queue: &mut Vec<Command>,
) {
    let Some(ins) = &state.inspected else {
        ui.heading("Inspector");
        ui.label(if state.project.is_some() {
            "Select an item in the Curation table (or press J / K)."
        } else {
            "No project open."
        });
        return;
    };
    ensure_texture(ui, ins, texture);
    review_bar(ui, state, ins.id, queue);
    let wide = ui.available_width() > 640.0;
    if wide {
        ui.columns(2, |cols| {
            image_area(&mut cols[0], ins, texture.as_ref().map(|t| &t.1));
            egui::ScrollArea::vertical().id_salt("inspector_text").show(&mut cols[1], |ui| details(ui, ins));
        });
    } else {
        egui::ScrollArea::vertical().id_salt("inspector_all").show(ui, |ui| {
            image_area(ui, ins, texture.as_ref().map(|t| &t.1));
            details(ui, ins);
        });
    }
}

/// The item's image fitted to the width (shared with the Review workspace).
pub(crate) fn image_area(ui: &mut egui::Ui, ins: &Inspected, texture: Option<&egui::TextureHandle>) {
    // Leave room for the question and options under the image when stacked.
    let side = ui.available_width().min((ui.available_height() * 0.6).max(200.0)).max(120.0);
    let (rect, _) = ui.allocate_exact_size(egui::vec2(ui.available_width(), side), egui::Sense::hover());
    ui.painter().rect_filled(rect, 4.0, theme::IMAGE_BACKGROUND);
    match (&ins.image, texture) {
        (Ok(img), Some(tex)) => {
            let [w, h] = img.size;
            let scale = (rect.width() / w as f32).min(rect.height() / h as f32);
            let size = egui::vec2(w as f32 * scale, h as f32 * scale);
            let r = egui::Rect::from_center_size(rect.center(), size);
            ui.painter().image(
                tex.id(),
                r,
                egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                egui::Color32::WHITE,
            );
            ui.weak(format!("{w} × {h} px, shown at {:.0}%", scale * 100.0));
        }
        (Err(e), _) => {
            let tokens = theme::of(ui);
            ui.painter().text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "⚠ image unavailable",
                egui::FontId::proportional(18.0),
                tokens.warn,
            );
            ui.colored_label(tokens.warn, e);
        }
        (Ok(_), None) => {
            ui.spinner();
        }
    }
}

fn details(ui: &mut egui::Ui, ins: &Inspected) {
    let tokens = theme::of(ui);
    let item = &ins.item;
    ui.label(egui::RichText::new(&item.question).size(17.0).strong());
    ui.add_space(6.0);
    match &item.answer {
        Answer::Choice(key) => {
            for (i, opt) in item.options.iter().enumerate() {
                let text = format!("{}) {opt}", letter(i));
                if i == *key {
                    ui.label(egui::RichText::new(format!("{text}   ✔ answer")).color(tokens.ok).strong());
                } else {
                    ui.label(text);
                }
            }
        }
        Answer::Open(ans) => {
            ui.weak("Open-ended question (no options)");
            ui.label(egui::RichText::new(format!("Answer: {ans}")).color(tokens.ok).strong());
        }
    }
    if !ins.samples.is_empty() {
        ui.add_space(8.0);
        let n_ok = ins.samples.iter().filter(|(_, r)| r.rewards.get("correct").is_some_and(|v| *v >= 1.0)).count();
        let run = ins.samples.first().map(|(name, _)| name.as_str()).unwrap_or("");
        egui::CollapsingHeader::new(format!("Pass-count samples: {n_ok} of {} correct", ins.samples.len()))
            .id_salt("pass_samples")
            .default_open(true)
            .show(ui, |ui| {
                ui.weak(run);
                for (_, r) in &ins.samples {
                    let ok = r.rewards.get("correct").is_some_and(|v| *v >= 1.0);
                    let (mark, color) = if ok { ("✔", tokens.ok) } else { ("✖", tokens.warn) };
                    ui.horizontal_wrapped(|ui| {
                        ui.colored_label(color, format!("{mark} #{}", r.sample_index + 1));
                        ui.add(egui::Label::new(egui::RichText::new(&r.completion).monospace().small()).wrap());
                    });
                }
            });
    }
    ui.add_space(10.0);
    egui::Grid::new("item_meta").num_columns(2).striped(true).show(ui, |ui| {
        let mut row = |k: &str, v: String| {
            ui.weak(k);
            ui.add(egui::Label::new(v).wrap());
            ui.end_row();
        };
        row("ID", item.uid.clone());
        row("Modality", item.modality.to_string());
        row("Body part", item.body_part.clone().unwrap_or_else(|| "—".into()));
        row("Source", item.source.clone());
        row("Split", item.split.to_string());
        row("Tags", if item.tags.is_empty() { "—".into() } else { item.tags.join(", ") });
        if let Some(p) = &ins.image_path {
            row("Image", p.display().to_string());
        }
        if let Some(img) = item.images.first() {
            if let Some(sha) = &img.sha256 {
                row("SHA-256", sha[..16.min(sha.len())].to_string() + "…");
            }
            if let Some(b) = img.bytes {
                row("File size", crate::util::human_bytes(b));
            }
        }
        for (k, v) in &item.meta {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            row(k, text);
        }
    });
}
