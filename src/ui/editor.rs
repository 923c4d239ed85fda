//! The item editor (a modal): question, options (one per line, lettered A–J in order), answer,
//! modality, body part, split and tags; the draft ([`crate::app::draft::EditorDraft`]) validates
//! before anything is saved.

use eframe::egui;

use crate::app::Command;
use crate::app::draft::EditorDraft;
use crate::domain::{Modality, Split, letter};

/// Draws the editor; returns false when it closes.
pub fn show(ctx: &egui::Context, d: &mut EditorDraft, queue: &mut Vec<Command>) -> bool {
    let mut keep = true;
    egui::Modal::new(egui::Id::unique("item_editor")).show(ctx, |ui| {
        ui.set_width(560.0);
        ui.heading(format!("Edit {}", d.original.uid));
        egui::Grid::new("editor_grid").num_columns(2).spacing([10.0, 6.0]).show(ui, |ui| {
            ui.label("Question");
            ui.add(egui::TextEdit::multiline(&mut d.question).desired_rows(2).desired_width(420.0));
            ui.end_row();
            let label = ui.label("Options\n(one per line)");
            let options = ui.add(egui::TextEdit::multiline(&mut d.options).desired_rows(4).desired_width(420.0));
            if options.labelled_by(label.id).changed() {
                d.sync_key();
            }
            ui.end_row();
            let n = d.option_lines().len();
            ui.label("Answer");
            if n == 0 {
                ui.add(egui::TextEdit::singleline(&mut d.open_answer).hint_text("open-ended answer"));
            } else {
                ui.horizontal_wrapped(|ui| {
                    let key = d.key_index();
                    for i in 0..n {
                        if ui.radio(key == Some(i), letter(i).to_string()).clicked() {
                            d.set_key_index(i);
                        }
                    }
                    match &d.key {
                        Some(k) if key.is_some() => ui.weak(format!("key: {k}")),
                        _ => ui.colored_label(ui.visuals().warn_fg_color, "choose the key"),
                    };
                });
            }
            ui.end_row();
            ui.label("Modality");
            egui::ComboBox::from_id_salt("ed_modality").selected_text(d.modality.as_str()).show_ui(ui, |ui| {
                for m in Modality::ALL {
                    ui.selectable_value(&mut d.modality, m, m.as_str());
                }
            });
            ui.end_row();
            ui.label("Body part");
            ui.text_edit_singleline(&mut d.body_part);
            ui.end_row();
            ui.label("Split");
            ui.horizontal(|ui| {
                for s in Split::ALL {
                    ui.radio_value(&mut d.split, s, s.as_str());
                }
            });
            ui.end_row();
            ui.label("Tags");
            ui.add(egui::TextEdit::singleline(&mut d.tags).hint_text("comma-separated"));
            ui.end_row();
        });
        // A message goes once what it named is fixed.
        if d.error.is_some() && d.edits().is_ok() {
            d.error = None;
        }
        if let Some(e) = &d.error {
            ui.colored_label(ui.visuals().error_fg_color, format!("⚠ {e}"));
        }
        ui.horizontal(|ui| {
            if ui.button("Save").clicked() {
                match d.edits() {
                    Ok(edits) if edits.is_empty() => keep = false,
                    Ok(edits) => {
                        queue.push(Command::SaveEdits(format!("edit {}", d.original.uid), edits));
                        keep = false;
                    }
                    Err(e) => d.error = Some(e),
                }
            }
            if ui.button("Cancel").clicked() {
                keep = false;
            }
        });
    });
    keep && !ctx.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::Escape))
}
