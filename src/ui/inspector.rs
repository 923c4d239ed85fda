//! The Inspector workspace: the selected item's image (fit to the pane, on a neutral background)
//! next to its question, lettered options with the key marked, its metadata, pass-count samples, a
//! reward preview and the review verdict buttons.

use eframe::egui;

use super::theme;
use crate::app::Command;
use crate::app::state::{AppState, Inspected, RewardPreview};
use crate::domain::{Answer, ReviewStatus, letter};
use crate::train::grpo::config::GrpoConfig;

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

/// Draws the workspace.
pub fn show(
    ui: &mut egui::Ui,
    state: &mut AppState,
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
    review_bar(ui, state, ins.id, queue);
    let Some(ins) = &state.inspected else { return };
    let view = &mut state.viewer;
    let preview = (&mut state.reward_preview, &state.training.form);
    // The lines of text found at import and not yet blacked out, outlined on the image.
    let text: Vec<[f32; 4]> =
        crate::curation::redact::text_left(&ins.item).iter().map(|r| r.map(|v| v as f32)).collect();
    if ui.available_width() > 640.0 {
        ui.columns(2, |cols| {
            let height = (cols[0].available_height() - 60.0).max(200.0);
            super::viewer::show(&mut cols[0], ins, view, texture, height, &text);
            redact_bar(&mut cols[0], view, text.len(), queue);
            egui::ScrollArea::vertical().id_salt("inspector_text").show(&mut cols[1], |ui| details(ui, ins, preview));
        });
    } else {
        egui::ScrollArea::vertical().id_salt("inspector_all").show(ui, |ui| {
            let height = (ui.available_width()).min(ui.available_height() * 0.6).max(200.0);
            super::viewer::show(ui, ins, view, texture, height, &text);
            redact_bar(ui, view, text.len(), queue);
            details(ui, ins, preview);
        });
    }
}

/// With lines of text found in the image: black them out; with a region drawn (shift + drag):
/// black it out. Each in a copy of the image, undoably.
fn redact_bar(ui: &mut egui::Ui, view: &mut crate::app::state::ViewState, found: usize, queue: &mut Vec<Command>) {
    if found > 0 {
        ui.horizontal_wrapped(|ui| {
            let tokens = theme::of(ui);
            let lines = if found == 1 { "1 line".to_string() } else { format!("{found} lines") };
            ui.colored_label(tokens.warn, format!("⚠ {lines} of burned-in text found (outlined, best effort)"));
            let b = ui.button("Black out text found").on_hover_text(Command::BlackOutFoundText.description());
            if b.clicked() {
                queue.push(Command::BlackOutFoundText);
            }
        });
    }
    let Some([x0, y0, x1, y1]) = view.region else { return };
    ui.horizontal(|ui| {
        ui.weak(format!("Region {x0:.0},{y0:.0} – {x1:.0},{y1:.0} px"));
        if ui.button("Black out region").on_hover_text(Command::BlackOutRegion.description()).clicked() {
            queue.push(Command::BlackOutRegion);
        }
        if ui.small_button("Clear").clicked() {
            view.region = None;
        }
    });
}

/// A completion typed or pasted for the item, scored live by the Training form's rewards (custom
/// ones included) or a preset's, each component with its weight.
fn reward_preview(ui: &mut egui::Ui, item: &crate::domain::VqaItem, (p, form): (&mut RewardPreview, &GrpoConfig)) {
    let tokens = theme::of(ui);
    egui::CollapsingHeader::new("Reward preview").id_salt("reward_preview").show(ui, |ui| {
        ui.horizontal(|ui| {
            ui.weak("Rewards of");
            egui::ComboBox::from_id_salt("reward_preview_source").selected_text(p.source.as_str()).show_ui(ui, |ui| {
                ui.selectable_value(&mut p.source, "Training form".to_string(), "Training form");
                for name in GrpoConfig::PRESETS {
                    ui.selectable_value(&mut p.source, name.to_string(), name);
                }
            });
        });
        ui.add(
            egui::TextEdit::multiline(&mut p.text)
                .hint_text("Type or paste a completion: <think>…</think><answer>B</answer>")
                .desired_rows(3)
                .desired_width(f32::INFINITY)
                .font(egui::TextStyle::Monospace),
        );
        let spec = GrpoConfig::preset(&p.source).unwrap_or_else(|| form.clone()).reward_spec();
        let (parts, total) = spec.score(&p.text, item);
        egui::Grid::new("reward_preview_parts").num_columns(3).show(ui, |ui| {
            for (name, weight, value) in spec.breakdown(&parts) {
                ui.label(name);
                ui.monospace(format!("{value:.2}"));
                ui.weak(format!("× {weight}"));
                ui.end_row();
            }
            ui.strong("total");
            ui.monospace(egui::RichText::new(format!("{total:.2}")).strong());
            ui.end_row();
        });
        let correct = spec.correct(&parts, &p.text, item);
        let (mark, color) =
            if correct { ("✔ counts as correct", tokens.ok) } else { ("✖ not correct", tokens.warn) };
        ui.colored_label(color, mark).on_hover_text("What a pass count would record for this completion");
        for violation in crate::review::trace::view(&p.text).violations {
            ui.colored_label(tokens.warn, format!("⚠ {}", violation.describe()));
        }
    });
}

fn details(ui: &mut egui::Ui, ins: &Inspected, preview: (&mut RewardPreview, &GrpoConfig)) {
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
                    let v = crate::review::trace::view(&r.completion);
                    ui.horizontal_wrapped(|ui| {
                        let answer = v.answers.first().map_or("no answer".to_string(), |a| format!("answer {a}"));
                        ui.colored_label(color, format!("{mark} #{} {answer}", r.sample_index + 1));
                        for (name, value) in &r.rewards {
                            ui.weak(format!("{name} {value:.2}"));
                        }
                        for violation in &v.violations {
                            ui.colored_label(tokens.warn, format!("⚠ {}", violation.describe()));
                        }
                    });
                    ui.add(egui::Label::new(egui::RichText::new(&r.completion).monospace().small()).wrap());
                }
            });
    }
    ui.add_space(6.0);
    reward_preview(ui, &ins.item, preview);
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
