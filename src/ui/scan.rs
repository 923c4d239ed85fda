//! The scan controls of the image viewer: the stack picker (NIfTI's axial / coronal / sagittal),
//! the slice slider, wheel and arrow-key scrolling, and the DICOM attribute browser with search
//! (patient values hidden, as everywhere).

use std::sync::Arc;

use eframe::egui;

use crate::app::state::ViewState;
use crate::imaging::gpu::GreyImage;
use crate::imaging::scan::ScanStack;

/// The slice shown: `view.slice`, else the item's own slice (first stack) or the middle one.
pub fn current(s: &ScanStack, view: &ViewState) -> usize {
    let stack = &s.stacks[view.stack.min(s.stacks.len().saturating_sub(1))];
    let default = if view.stack == 0 { s.start } else { stack.slices.len() / 2 };
    view.slice.unwrap_or(default).min(stack.slices.len().saturating_sub(1))
}

/// A slice to draw and its row/column spacing (mm).
pub type Shown = (Arc<GreyImage>, Option<(f64, f64)>);

/// The stack picker and slice slider; returns the slice to draw and its spacing.
pub fn toolbar(ui: &mut egui::Ui, s: &ScanStack, view: &mut ViewState) -> Option<Shown> {
    if s.stacks.is_empty() {
        return None;
    }
    view.stack = view.stack.min(s.stacks.len() - 1);
    ui.horizontal(|ui| {
        if s.stacks.len() > 1 {
            let label = ui.weak("Axis");
            egui::ComboBox::from_id_salt("scan-axis")
                .selected_text(&s.stacks[view.stack].name)
                .show_ui(ui, |ui| {
                    for (i, st) in s.stacks.iter().enumerate() {
                        if ui.selectable_label(view.stack == i, &st.name).clicked() && view.stack != i {
                            view.stack = i;
                            view.slice = None;
                        }
                    }
                })
                .response
                .labelled_by(label.id);
        }
        let n = s.stacks[view.stack].slices.len();
        let mut i = current(s, view);
        if n > 1 {
            let slider = ui.add(egui::Slider::new(&mut i, 0..=n - 1).show_value(false).text("slice"));
            if slider.changed() {
                view.slice = Some(i);
            }
        }
        ui.weak(s.stacks[view.stack].labels.get(i).cloned().unwrap_or_default());
    });
    if s.volumes > 1 {
        // A 4-D volume (fMRI, DWI): the volume slider loads the others off the UI thread.
        ui.horizontal(|ui| {
            let mut t = view.volume.unwrap_or(s.volume).min(s.volumes - 1);
            let slider = ui.add(egui::Slider::new(&mut t, 0..=s.volumes - 1).show_value(false).text("volume"));
            if slider.changed() {
                view.volume = Some(t);
            }
            let loading = view.volume.is_some_and(|v| v != s.volume);
            ui.weak(format!("volume {}/{}{}", t + 1, s.volumes, if loading { " · loading…" } else { "" }));
        });
    }
    let stack = &s.stacks[view.stack];
    stack.slices.get(current(s, view)).map(|g| (g.clone(), stack.spacing))
}

/// Wheel (and arrow keys, Page Up/Down, Home/End) over the image move through the slices; the
/// returned scroll is what zooms (ctrl + wheel).
pub fn navigate(ui: &egui::Ui, s: &ScanStack, view: &mut ViewState) -> f32 {
    let Some(stack) = s.stacks.get(view.stack) else { return 0.0 };
    let n = stack.slices.len() as i64;
    let (raw, zoom, keys) = ui.input_mut(|i| {
        let mut step = 0i64;
        for (key, d) in [
            (egui::Key::ArrowDown, 1),
            (egui::Key::ArrowUp, -1),
            (egui::Key::PageDown, 10),
            (egui::Key::PageUp, -10),
            (egui::Key::Home, -n),
            (egui::Key::End, n),
        ] {
            // Every press of the frame counts (a key held down repeats).
            while i.consume_key(egui::Modifiers::NONE, key) {
                step += d;
            }
        }
        // One slice per wheel event (a notch), whatever its size; ctrl + wheel is a zoom.
        let raw: f32 = i
            .events
            .iter()
            .filter_map(|e| match e {
                egui::Event::MouseWheel { delta, modifiers, .. } if !modifiers.ctrl && !modifiers.command => {
                    Some(delta.y.signum())
                }
                _ => None,
            })
            .sum();
        (raw, i.zoom_delta(), step)
    });
    let wheel = if raw < 0.0 {
        1
    } else if raw > 0.0 {
        -1
    } else {
        0
    };
    let step = keys + wheel;
    if step != 0 && n > 0 {
        view.slice = Some((current(s, view) as i64 + step).clamp(0, n - 1) as usize);
    }
    // Ctrl + wheel arrives as a zoom factor: the viewer's wheel zoom wants a scroll amount.
    if zoom != 1.0 { zoom.ln() / 0.0015 } else { 0.0 }
}

/// The scan's summary, files left out of the series, and the attribute browser.
pub fn details(ui: &mut egui::Ui, s: &ScanStack, view: &mut ViewState) {
    ui.weak(&s.summary);
    if !s.skipped.is_empty() {
        ui.collapsing(format!("⚠ {} files of the folder left out of the series", s.skipped.len()), |ui| {
            for e in &s.skipped {
                ui.weak(e);
            }
        });
    }
    if s.tags.is_empty() {
        return;
    }
    egui::CollapsingHeader::new(format!("DICOM attributes ({})", s.tags.len())).id_salt("dicom-tags").show(ui, |ui| {
        ui.horizontal(|ui| {
            let label = ui.weak("Search");
            ui.add(
                egui::TextEdit::singleline(&mut view.tag_search)
                    .hint_text("keyword, tag or value")
                    .desired_width(200.0),
            )
            .labelled_by(label.id);
            ui.weak("patient values are hidden");
        });
        let q = view.tag_search.to_lowercase();
        let rows: Vec<_> = s
            .tags
            .iter()
            .filter(|r| {
                q.is_empty()
                    || r.keyword.to_lowercase().contains(&q)
                    || r.tag.to_lowercase().contains(&q)
                    || r.value.to_lowercase().contains(&q)
            })
            .collect();
        // A table of clipped columns: a long keyword or value is cut at the panel's edge (hover shows
        // it whole) rather than pushing the values out of sight.
        let row_h = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
        let cell = |ui: &mut egui::Ui, text: egui::RichText| {
            ui.add(egui::Label::new(text).truncate());
        };
        egui_extras::TableBuilder::new(ui)
            .id_salt("dicom-tags-table")
            .striped(true)
            .resizable(true)
            .max_scroll_height(220.0)
            .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
            .column(egui_extras::Column::auto().at_least(90.0))
            .column(egui_extras::Column::exact(26.0))
            .column(egui_extras::Column::initial(170.0).at_least(60.0).clip(true))
            .column(egui_extras::Column::remainder().at_least(80.0).clip(true))
            .body(|body| {
                body.rows(row_h, rows.len(), |mut row| {
                    let r = rows[row.index()];
                    row.col(|ui| cell(ui, egui::RichText::new(&r.tag).monospace()));
                    row.col(|ui| cell(ui, egui::RichText::new(&r.vr).weak()));
                    row.col(|ui| cell(ui, egui::RichText::new(&r.keyword)));
                    row.col(|ui| cell(ui, egui::RichText::new(&r.value)));
                });
            });
    });
}
