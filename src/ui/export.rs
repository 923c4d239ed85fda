//! The export dialog: format, split, excluded items, output path, and, when the project holds
//! items whose pixels may show patient text, the named refusal with a per-export confirmation.

use eframe::egui;

use super::theme;
use crate::app::Command;
use crate::app::export::ExportDraft;
use crate::domain::Split;
use crate::io::export::ExportFormat;

/// Shows the dialog; returns whether it stays open.
pub fn show(ctx: &egui::Context, d: &mut ExportDraft, queue: &mut Vec<Command>) -> bool {
    let mut keep = true;
    let r = egui::Modal::new(egui::Id::unique("export_dialog")).show(ctx, |ui| {
        ui.set_width(560.0);
        ui.heading("Export data");
        ui.horizontal(|ui| {
            let label = ui.label("Format:");
            let before = d.format;
            egui::ComboBox::from_id_salt("export_format")
                .selected_text(name(d.format))
                .show_ui(ui, |ui| {
                    for f in [ExportFormat::Jsonl, ExportFormat::VerlParquet, ExportFormat::TrlJsonl] {
                        ui.selectable_value(&mut d.format, f, name(f));
                    }
                })
                .response
                .labelled_by(label.id);
            if d.format != before {
                let ext = ExportDraft::extension(d.format);
                let p = std::path::Path::new(d.out.trim()).with_extension(ext);
                d.out = p.to_string_lossy().into_owned();
            }
        });
        ui.horizontal(|ui| {
            let label = ui.label("Split:");
            egui::ComboBox::from_id_salt("export_split")
                .selected_text(d.split.map_or("all", Split::as_str))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut d.split, None, "all");
                    for s in [Split::Train, Split::Val, Split::Test] {
                        ui.selectable_value(&mut d.split, Some(s), s.as_str());
                    }
                })
                .response
                .labelled_by(label.id);
            ui.checkbox(&mut d.include_excluded, "Include excluded items");
        });
        ui.horizontal(|ui| {
            let label = ui.label("File:");
            ui.add(egui::TextEdit::singleline(&mut d.out).desired_width(440.0)).labelled_by(label.id);
        });
        if d.format == ExportFormat::Jsonl {
            ui.checkbox(
                &mut d.dicom_copies,
                "De-identified DICOM copies of the source scans (in dicom/ beside the file)",
            )
            .on_hover_text(
                "PS3.15 Basic Profile, best effort: identifying attributes emptied or removed, private tags \
                     removed, UIDs remapped within this export; regions blacked out of an image are blacked out of \
                     its copy's pixels too.",
            );
            if d.dicom_copies {
                deid_options(ui, &mut d.deid);
            }
        }
        ui.weak(
            "Images go out under their content hash and metadata by an allow-list; a dataset card is written beside \
             the file. Patient-data checks are best effort.",
        );
        if d.burned() > 0 {
            let tokens = theme::of(ui);
            egui::Frame::group(ui.style()).stroke(egui::Stroke::new(1.0, tokens.warn)).show(ui, |ui| {
                ui.colored_label(
                    tokens.warn,
                    format!(
                        "⚠ {} items may show patient text burned into their pixels (text found in the image, \
                         ultrasound, secondary capture, Burned In Annotation = YES): the export is refused until you \
                         confirm it. Review them with the Patient data facet (Items menu: Black out the text found), \
                         exclude them, or confirm.",
                        d.burned()
                    ),
                );
                ui.checkbox(&mut d.allow_burned_in_text, "I have reviewed them: export them anyway (this export only)");
            });
        }
        ui.horizontal(|ui| {
            if ui.add_enabled(d.ready(), egui::Button::new("Export")).clicked() {
                queue.push(Command::ConfirmExport(Box::new(d.clone())));
                keep = false;
            }
            if ui.button("Cancel").clicked() {
                keep = false;
            }
        });
    });
    keep && !r.should_close()
}

fn name(f: ExportFormat) -> &'static str {
    match f {
        ExportFormat::Jsonl => "unified JSONL (MedVLThinker schema)",
        ExportFormat::VerlParquet => "verl Parquet (embedded images)",
        ExportFormat::TrlJsonl => "TRL JSONL",
    }
}

/// The PS3.15 options of the DICOM copies: patient characteristics, and what happens to the dates.
fn deid_options(ui: &mut egui::Ui, o: &mut crate::io::dicom_deid_options::DeidOptions) {
    use crate::io::dicom_deid_options::Dates;
    ui.indent("deid-options", |ui| {
        ui.checkbox(&mut o.patient_characteristics, "Keep patient characteristics (sex, age, size, weight)")
            .on_hover_text(
                "PS3.15 Retain Patient Characteristics Option: sex, age, size, weight, ethnic group, smoking and \
                 pregnancy status stay in the copies.",
            );
        ui.checkbox(&mut o.device_identity, "Keep device identity (station, serial numbers)")
            .on_hover_text("PS3.15 Retain Device Identity Option: station names, device, detector and plate IDs stay.");
        ui.checkbox(&mut o.institution_identity, "Keep institution identity (name, department, trial site)")
            .on_hover_text("PS3.15 Retain Institution Identity Option: institution name, address, department stay.");
        ui.checkbox(&mut o.uids, "Keep UIDs (study, series, instance)").on_hover_text(
            "PS3.15 Retain UIDs Option: the copies keep the source's UIDs, so they still match the records they came \
             from. A UID can be looked up in the source's archive.",
        );
        ui.horizontal(|ui| {
            let label = ui.label("Dates:");
            egui::ComboBox::from_id_salt("deid-dates")
                .selected_text(match o.dates {
                    Dates::Remove => "removed",
                    Dates::Full => "kept as they are",
                    Dates::Shifted => "shifted per patient",
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut o.dates, Dates::Remove, "removed");
                    ui.selectable_value(&mut o.dates, Dates::Shifted, "shifted per patient").on_hover_text(
                        "Moved back by 1–10 years, the same days for every file of a patient: intervals stay true",
                    );
                    ui.selectable_value(&mut o.dates, Dates::Full, "kept as they are");
                })
                .response
                .labelled_by(label.id);
        });
        ui.weak("Birth dates never go out.");
    });
}
