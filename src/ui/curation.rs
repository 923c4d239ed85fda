//! The Curation workspace: item count, search, facet filters with counts (modality, split, source,
//! body part, tag, review status, missing images), the difficulty panel, and a virtualised item
//! table (with each item's pass count) that stays smooth with 100,000 rows.

use std::collections::BTreeSet;

use eframe::egui;
use egui_extras::{Column, TableBuilder};

use super::theme;
use crate::app::Command;
use crate::app::state::AppState;
use crate::domain::{DatasetStats, Modality, Split};
use crate::io::export::BURNED_IN_TAG;

/// Id of the search box (focused by `/` and Ctrl+F).
pub const SEARCH_ID: &str = "item_search";

/// Draws the workspace.
pub fn show(ui: &mut egui::Ui, state: &mut AppState, queue: &mut Vec<Command>) {
    let Some(project) = &state.project else {
        ui.heading("Curation");
        if state.opening.is_some() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Opening project…");
            });
        } else {
            ui.label("No project open. Use File > Open project… or drop a .medvlm file here.");
        }
        return;
    };
    let total = project.rows.len();
    let shown = state.visible.len();
    let mut changed = false;
    ui.horizontal(|ui| {
        let title = if shown == total { format!("{total} items") } else { format!("{shown} of {total} items") };
        ui.heading(title);
        ui.weak(format!("in {}", project.name));
    });
    ui.horizontal(|ui| {
        let search = egui::TextEdit::singleline(&mut state.filter.text)
            .id(egui::Id::unique(SEARCH_ID))
            .hint_text("Search question, id or tag   ( / )")
            .desired_width(280.0);
        let r = ui.add(search);
        if state.focus_search {
            r.request_focus();
            state.focus_search = false;
        }
        changed |= r.changed();
        if !state.filter.is_empty() && ui.button("Clear filters").clicked() {
            queue.push(Command::ClearFilters);
        }
    });
    changed |= facets(ui, state);
    egui::CollapsingHeader::new("Difficulty (pass counts)").id_salt("difficulty_panel").default_open(true).show(
        ui,
        |ui| {
            changed |= super::difficulty::show(ui, state, queue);
        },
    );
    ui.separator();
    if changed {
        state.refilter();
    }
    table(ui, state, queue);
}

/// A toggle chip for one facet value; returns true when toggled.
/// The facet chips (modality, split, source, body part, tag, review, missing images) with their
/// counts; true when a filter changed.
fn facets(ui: &mut egui::Ui, state: &mut AppState) -> bool {
    let Some(project) = &state.project else { return false };
    let mut changed = false;
    let stats = &project.stats;
    // Counts of the current result beside the project's (greyed), as faceted search shows them.
    let here = &state.result_stats;
    ui.horizontal_wrapped(|ui| {
        ui.label("Modality:");
        for m in Modality::ALL {
            let n = stats.by_modality.get(m.as_str()).copied().unwrap_or(0);
            if n > 0 {
                changed |= chip(
                    ui,
                    &mut state.filter.modalities,
                    m,
                    facet(ui, m.as_str(), here.by_modality.get(m.as_str()).copied().unwrap_or(0), n),
                );
            }
        }
        ui.separator();
        ui.label("Split:");
        for s in Split::ALL {
            let n = stats.by_split.get(s.as_str()).copied().unwrap_or(0);
            if n > 0 {
                changed |= chip(
                    ui,
                    &mut state.filter.splits,
                    s,
                    facet(ui, s.as_str(), here.by_split.get(s.as_str()).copied().unwrap_or(0), n),
                );
            }
        }
    });
    ui.horizontal_wrapped(|ui| {
        ui.label("Source:");
        for src in &project.sources {
            let n = stats.by_source.get(src).copied().unwrap_or(0);
            changed |= chip(
                ui,
                &mut state.filter.sources,
                src.clone(),
                facet(ui, src, here.by_source.get(src).copied().unwrap_or(0), n),
            );
        }
        if stats.by_body_part.len() > 1 {
            ui.separator();
            ui.label("Body part:");
            for (b, n) in stats.by_body_part.iter().take(12) {
                changed |= chip(
                    ui,
                    &mut state.filter.body_parts,
                    b.clone(),
                    facet(ui, b, here.by_body_part.get(b).copied().unwrap_or(0), *n),
                );
            }
        }
        changed |= phi_facet(ui, &mut state.filter.tags, stats, here);
        if stats.by_tag.keys().any(|t| !PHI_TAGS.iter().any(|(p, _)| p == t)) {
            ui.separator();
            ui.label("Tag:");
            for (t, n) in stats.by_tag.iter().filter(|(t, _)| !PHI_TAGS.iter().any(|(p, _)| p == *t)).take(16) {
                changed |= chip(
                    ui,
                    &mut state.filter.tags,
                    t.clone(),
                    facet(ui, t, here.by_tag.get(t).copied().unwrap_or(0), *n),
                );
            }
        }
        ui.separator();
        ui.label("Review:");
        for r in crate::domain::ReviewStatus::ALL {
            let n = stats.by_review.get(&r).copied().unwrap_or(0);
            if n > 0 {
                changed |= chip(
                    ui,
                    &mut state.filter.reviews,
                    r,
                    facet(ui, &r.to_string(), here.by_review.get(&r).copied().unwrap_or(0), n),
                );
            }
        }
        if stats.missing_images > 0 {
            ui.separator();
            let tokens = theme::of(ui);
            let label = egui::RichText::new(format!("⚠ missing images ({})", stats.missing_images)).color(tokens.warn);
            changed |= ui.checkbox(&mut state.filter.missing_images_only, label).changed();
        }
    });
    changed
}

/// The tags the importer sets for patient data, with their facet names.
const PHI_TAGS: [(&str, &str); 2] = [("phi:detected", "attributes in the header"), (BURNED_IN_TAG, "burned-in text")];

/// A small `PHI` badge before the question of an item whose scan carried patient data: amber when
/// its pixels may show burned-in text (exports refuse it until confirmed), muted when only the
/// header had Basic Profile attributes (never stored).
fn phi_badge(ui: &mut egui::Ui, r: &crate::domain::ItemRow, tokens: &theme::Tokens) {
    let burned = r.tags.iter().any(|t| t == BURNED_IN_TAG);
    let header = r.tags.iter().any(|t| t == "phi:detected");
    let (colour, hint) = match (burned, header) {
        (true, _) => {
            (tokens.warn, "Patient data: the pixels may show burned-in text (exports ask first). Best effort.")
        }
        (false, true) => (
            tokens.weak,
            "Patient data: the DICOM header carried Basic Profile attributes (their values are never stored). Best effort.",
        ),
        _ => return,
    };
    let text = egui::RichText::new("PHI").small().strong().color(colour);
    ui.add(egui::Label::new(text)).on_hover_text(hint);
}

/// The patient-data facet (best effort): items whose DICOM header carried patient attributes,
/// and those whose pixels may show patient text (exports refuse them until confirmed).
fn phi_facet(ui: &mut egui::Ui, tags: &mut BTreeSet<String>, stats: &DatasetStats, here: &DatasetStats) -> bool {
    let mut changed = false;
    if !PHI_TAGS.iter().any(|(t, _)| stats.by_tag.contains_key(*t)) {
        return false;
    }
    ui.separator();
    ui.label("Patient data:").on_hover_text(
        "Best effort: DICOM attributes of the PS3.15 Basic Profile found in the header (their values are never \
         kept), modalities that often burn patient text into the pixels (ultrasound, secondary capture, \
         Burned In Annotation = YES), and lines of text found in an image's pixels (a caption strip, scanner \
         annotations). Exports refuse burned-in items until confirmed.",
    );
    for (tag, name) in PHI_TAGS {
        if let Some(&n) = stats.by_tag.get(tag) {
            let label = facet(ui, name, here.by_tag.get(tag).copied().unwrap_or(0), n);
            changed |= chip(ui, tags, tag.to_string(), label);
        }
    }
    changed
}

/// A facet's label: its count in the current result, and the project's count greyed beside it
/// when they differ.
fn facet(ui: &egui::Ui, name: &str, here: usize, all: usize) -> egui::WidgetText {
    if here == all {
        return format!("{name} {all}").into();
    }
    let mut job = egui::text::LayoutJob::default();
    let font = egui::TextStyle::Button.resolve(ui.style());
    job.append(&format!("{name} {here}"), 0.0, egui::TextFormat::simple(font.clone(), ui.visuals().text_color()));
    job.append(&format!(" / {all}"), 0.0, egui::TextFormat::simple(font, ui.visuals().weak_text_color()));
    job.into()
}

fn chip<T: Ord + Clone>(
    ui: &mut egui::Ui,
    set: &mut BTreeSet<T>,
    value: T,
    label: impl Into<egui::WidgetText>,
) -> bool {
    let on = set.contains(&value);
    if ui.selectable_label(on, label).clicked() {
        if on {
            set.remove(&value);
        } else {
            set.insert(value);
        }
        return true;
    }
    false
}

fn table(ui: &mut egui::Ui, state: &mut AppState, queue: &mut Vec<Command>) {
    let Some(project) = &state.project else { return };
    if state.visible.is_empty() {
        ui.label("No items match the filters.");
        return;
    }
    let tokens = theme::of(ui);
    let row_h = ui.text_style_height(&egui::TextStyle::Body) + 6.0;
    // Selectable (copyable) labels would swallow the click meant for the row.
    ui.style_mut().interaction.selectable_labels = false;
    let mut builder = TableBuilder::new(ui)
        .id_salt("item_table")
        .striped(true)
        .resizable(true)
        .sense(egui::Sense::click())
        .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
        .column(Column::initial(150.0).at_least(60.0).clip(true))
        .column(Column::remainder().at_least(160.0).clip(true))
        .column(Column::initial(58.0).at_least(40.0))
        .column(Column::initial(64.0).at_least(40.0))
        .column(Column::initial(48.0).at_least(36.0))
        .column(Column::initial(90.0).at_least(40.0).clip(true))
        .column(Column::initial(40.0).at_least(30.0))
        .column(Column::initial(52.0).at_least(36.0));
    let est = state.curation.chosen(project);
    if state.scroll_to_selected {
        if let Some(pos) = state.selected_position() {
            builder = builder.scroll_to_row(pos, Some(egui::Align::Center));
        }
        state.scroll_to_selected = false;
    }
    builder
        .header(row_h, |mut h| {
            for (key, title) in crate::domain::sort::SortKey::COLUMNS {
                h.col(|ui| {
                    let arrow = match state.curation.sort {
                        Some((k, true)) if k == key => " ▲",
                        Some((k, false)) if k == key => " ▼",
                        _ => "",
                    };
                    let b = egui::Button::new(egui::RichText::new(format!("{title}{arrow}")).strong()).frame(false);
                    if ui.add(b).on_hover_text("Sort by this column (again: the other way)").clicked() {
                        queue.push(Command::SortTable(key));
                    }
                });
            }
        })
        .body(|body| {
            body.rows(row_h, state.visible.len(), |mut row| {
                let pos = state.visible[row.index()];
                let r = &project.rows[pos];
                row.set_selected(state.selected == Some(r.id));
                row.col(|ui| {
                    ui.add(egui::Label::new(egui::RichText::new(&r.uid).monospace().small()).truncate());
                });
                row.col(|ui| {
                    phi_badge(ui, r, &tokens);
                    ui.add(egui::Label::new(&r.question).truncate());
                });
                row.col(|ui| {
                    match r.answer_letter {
                        Some(l) => ui.label(format!("{l} / {}", r.n_options)),
                        None => ui.weak("open"),
                    };
                });
                row.col(|ui| {
                    ui.label(r.modality.as_str());
                });
                row.col(|ui| {
                    ui.label(r.split.as_str());
                });
                row.col(|ui| {
                    ui.add(egui::Label::new(&r.source).truncate());
                });
                row.col(|ui| {
                    if r.missing_images > 0 {
                        ui.colored_label(tokens.warn, "⚠")
                            .on_hover_text(format!("{} of {} images missing", r.missing_images, r.n_images));
                    } else {
                        ui.label(r.n_images.to_string());
                    }
                });
                row.col(|ui| {
                    if let Some(pc) = est.and_then(|(_, e)| e.get(pos).copied().flatten()) {
                        ui.label(format!("{}/{}", pc.n_correct, pc.n_samples));
                    }
                    if let Some(run) = project.run_estimates.get(&r.id).filter(|e| e.zero_std_groups > 0) {
                        ui.colored_label(tokens.warn, "≡").on_hover_text(format!(
                            "{} of {} GRPO groups of this item had zero reward spread in the latest run (running pass rate {}/{})",
                            run.zero_std_groups, run.groups, run.counts.n_correct, run.counts.n_samples
                        ));
                    }
                });
                if row.response().clicked() {
                    queue.push(Command::SelectItem(r.id));
                }
            });
        });
}
