//! The Curation workspace's difficulty panel: which estimate to show, the pass-count histogram
//! (stacked by modality or source; a click on a bar filters the table), the band filter, the
//! closed-loop summary of the latest run, and the form that starts a pass-count job.

use eframe::egui;
use egui_plot::{Bar, BarChart, Legend, Plot, Span};

use super::theme;
use crate::app::Command;
use crate::app::state::{AppState, ProjectView};
use crate::curation::{Band, Difficulty, Histogram, SplitBy};

const SERIES_COLORS: [egui::Color32; 6] = [
    egui::Color32::from_rgb(86, 156, 214),
    egui::Color32::from_rgb(220, 140, 60),
    egui::Color32::from_rgb(120, 190, 110),
    egui::Color32::from_rgb(200, 100, 160),
    egui::Color32::from_rgb(170, 170, 80),
    egui::Color32::from_rgb(140, 120, 210),
];

/// Draws the panel (inside a collapsing header); returns true when the table filter changed.
pub fn show(ui: &mut egui::Ui, state: &mut AppState, queue: &mut Vec<Command>) -> bool {
    let Some(p) = &state.project else { return false };
    let mut changed = false;
    let c = &mut state.curation;
    ui.horizontal_wrapped(|ui| {
        ui.label("Estimate:");
        if p.estimate_keys.is_empty() {
            ui.weak("none yet — estimate pass counts below");
        } else {
            let i = c.key.min(p.estimate_keys.len() - 1);
            egui::ComboBox::from_id_salt("estimate_key")
                .selected_text(format!("{} ({} items)", p.estimate_keys[i].0.label(), p.estimate_keys[i].1))
                .show_ui(ui, |ui| {
                    for (j, (k, n)) in p.estimate_keys.iter().enumerate() {
                        if ui.selectable_label(i == j, format!("{} ({n} items)", k.label())).clicked() {
                            c.key = j;
                            c.band = None;
                            changed = true;
                        }
                    }
                });
            ui.separator();
            ui.label("Bars by:");
            changed |= ui.selectable_value(&mut c.split_by, SplitBy::Modality, "modality").changed();
            changed |= ui.selectable_value(&mut c.split_by, SplitBy::Source, "source").changed();
        }
    });
    if let (Some((key, _)), Some(hist)) = (c.chosen(p), &state.histogram) {
        let k = key.k;
        let mut band = c.band_for(k);
        ui.horizontal_wrapped(|ui| {
            ui.label("Band:");
            let lo = ui.add(egui::DragValue::new(&mut band.lo).range(0..=k).prefix("from "));
            let hi = ui.add(egui::DragValue::new(&mut band.hi).range(0..=k).prefix("to "));
            if lo.changed() || hi.changed() {
                band.hi = band.hi.max(band.lo);
                c.band = Some(band);
                changed = true;
            }
            ui.label(format!("of {k}"));
            if ui.checkbox(&mut c.band_only, "only items in band").on_hover_text("Ctrl+B").changed() {
                changed = true;
            }
            if let Some(n) = c.pass_count
                && ui.button(format!("✖ pass count = {n}")).on_hover_text("Clear the bar filter").clicked()
            {
                queue.push(Command::FilterPassCount(None));
            }
        });
        let n_rows: usize = hist.series.values().flatten().sum::<usize>() + hist.unestimated;
        let in_band: usize = hist.totals().iter().enumerate().filter(|(n, _)| band.contains(*n)).map(|(_, v)| v).sum();
        let totals = hist.totals();
        let estimated: usize = totals.iter().sum();
        // Unbiased pass@1 and pass@k over the estimated filtered items (each bin is a pass count of k).
        let mean_pass = |kk: usize| {
            totals.iter().enumerate().map(|(n, &v)| v as f64 * crate::curation::pass_at_k(k, n, kk)).sum::<f64>()
                / estimated.max(1) as f64
        };
        ui.label(format!(
            "{estimated} of {n_rows} filtered items estimated; {in_band} in band {}…{}; {} not estimated; pass@1 {:.1}%, pass@{k} {:.1}%",
            band.lo,
            band.hi,
            hist.unestimated,
            100.0 * mean_pass(1),
            100.0 * mean_pass(k)
        ));
        if let Some(n) = histogram(ui, hist, band) {
            queue.push(Command::FilterPassCount(if c.pass_count == Some(n) { None } else { Some(n) }));
        }
    }
    changed |= class_facet(ui, &state.class_counts, &mut state.curation.classes);
    closed_loop(ui, p);
    job_form(ui, state, queue);
    ui.separator();
    versions(ui, state, queue);
    changed
}

/// Difficulty classes with counts among the rows passing the other facets (a band set by hand
/// with Items > Set band counts as that class).
fn class_facet(
    ui: &mut egui::Ui,
    counts: &std::collections::BTreeMap<Difficulty, usize>,
    classes: &mut std::collections::BTreeSet<Difficulty>,
) -> bool {
    let mut changed = false;
    ui.horizontal_wrapped(|ui| {
        ui.label("Difficulty:");
        // A selected class stays visible at 0, so it can be deselected.
        for class in Difficulty::ALL {
            let n = counts.get(&class).copied().unwrap_or(0);
            let on = classes.contains(&class);
            if n == 0 && !on {
                continue;
            }
            if ui.selectable_label(on, format!("{} {n}", class.label())).clicked() {
                if on {
                    classes.remove(&class);
                } else {
                    classes.insert(class);
                }
                changed = true;
            }
        }
    });
    changed
}

/// Stacked bars; returns the pass count of a clicked bar.
fn histogram(ui: &mut egui::Ui, h: &Histogram, band: Band) -> Option<usize> {
    let tokens = theme::of(ui);
    let mut charts: Vec<BarChart> = Vec::new();
    for (s, (name, counts)) in h.series.iter().enumerate() {
        let bars: Vec<Bar> =
            counts.iter().enumerate().map(|(n, &v)| Bar::new(n as f64, v as f64).width(0.8).name(name)).collect();
        let mut chart = BarChart::new(name.clone(), bars).color(SERIES_COLORS[s % SERIES_COLORS.len()]);
        let below: Vec<&BarChart> = charts.iter().collect();
        if !below.is_empty() {
            chart = chart.stack_on(&below);
        }
        charts.push(chart);
    }
    let resp = Plot::new("passcount_hist")
        .height(150.0)
        .legend(Legend::default())
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .include_y(0.0)
        .x_axis_label("correct samples (pass count)")
        .y_axis_min_width(28.0)
        .show(ui, |pui| {
            pui.span(
                Span::new("band", (band.lo as f64 - 0.5)..=(band.hi as f64 + 0.5))
                    .fill(tokens.accent.gamma_multiply(0.12))
                    .border_width(0.0),
            );
            for chart in charts {
                pui.bar_chart(chart);
            }
            pui.pointer_coordinate()
        });
    if resp.response.clicked() {
        let x = resp.inner?.x.round();
        if x >= 0.0 && x <= h.k as f64 {
            return Some(x as usize);
        }
    }
    None
}

fn closed_loop(ui: &mut egui::Ui, p: &ProjectView) {
    if p.run_estimates.is_empty() {
        return;
    }
    let (mut seen, mut zero, mut samples, mut correct) = (0, 0, 0, 0);
    for e in p.run_estimates.values() {
        seen += 1;
        samples += e.counts.n_samples;
        correct += e.counts.n_correct;
        if e.zero_std_groups > 0 {
            zero += 1;
        }
    }
    let run = p.runs.keys().next_back().copied().unwrap_or_default();
    ui.label(format!(
        "Latest run {run}: {seen} items sampled in training, running pass rate {:.0}%, {zero} items flagged with a zero-std group",
        100.0 * correct as f64 / samples.max(1) as f64
    ))
    .on_hover_text("Closed loop: every GRPO group updates its item's running estimate for the run's model");
}

fn job_form(ui: &mut egui::Ui, state: &mut AppState, queue: &mut Vec<Command>) {
    let n = state.visible.len();
    if let Some(w) = state.toy_model_warning(&state.curation.job.model) {
        ui.colored_label(ui.visuals().warn_fg_color, w);
    }
    let job = &mut state.curation.job;
    ui.horizontal_wrapped(|ui| {
        ui.label("Model:");
        ui.add(egui::TextEdit::singleline(&mut job.model).desired_width(140.0))
            .on_hover_text("`sample` = the built-in medvlm-tiny, or a Hugging Face / checkpoint folder");
        ui.add(egui::DragValue::new(&mut job.k).range(1..=64).prefix("k "));
        ui.add(egui::DragValue::new(&mut job.temperature).range(0.05..=2.0).speed(0.05).prefix("T "));
        ui.add(egui::DragValue::new(&mut job.top_p).range(0.05..=1.0).speed(0.01).prefix("top-p "));
        ui.add(egui::DragValue::new(&mut job.top_k).range(0..=1000).prefix("top-k ")).on_hover_text("0 = off");
        ui.add(egui::DragValue::new(&mut job.max_new_tokens).range(8..=1024).prefix("max tokens "));
        egui::ComboBox::from_id_salt("passrate_template")
            .selected_text(format!("prompt {}", job.template))
            .show_ui(ui, |ui| {
                for t in crate::domain::prompt::PromptTemplate::built_in() {
                    ui.selectable_value(&mut job.template, t.name().to_string(), t.name());
                }
            })
            .response
            .accessible_name("Prompt template");
        egui::ComboBox::from_id_salt("passrate_reward")
            .selected_text(format!("graded by {}", job.reward))
            .show_ui(ui, |ui| {
                for r in crate::curation::passrate::GRADING_REWARDS {
                    ui.selectable_value(&mut job.reward, r.to_string(), r);
                }
            })
            .response
            .accessible_name("Grading reward");
        let label = format!("Estimate pass counts of {n} items");
        if ui
            .add_enabled(n > 0, egui::Button::new(label))
            .on_hover_text(Command::EstimatePassCounts.description())
            .clicked()
        {
            queue.push(Command::EstimatePassCounts);
        }
    });
}

/// Dataset versions with a diff against the live items.
pub fn versions(ui: &mut egui::Ui, state: &AppState, queue: &mut Vec<Command>) {
    let Some(p) = &state.project else { return };
    ui.horizontal_wrapped(|ui| {
        ui.label("Versions:");
        if p.versions.is_empty() {
            ui.weak("none yet");
        }
        for v in &p.versions {
            if ui
                .small_button(format!("{} ({})", v.name, v.item_count))
                .on_hover_text(format!("{} — click for the diff with the live items", v.created_at))
                .clicked()
            {
                queue.push(Command::DiffVersion(v.name.clone()));
            }
        }
        if ui.small_button("Save version…").clicked() {
            queue.push(Command::CreateVersionPrompt);
        }
    });
    if let Some(d) = &state.curation.diff {
        ui.weak(format!(
            "Since {:?}: {} added, {} removed, {} edited (shown in the Version diff window)",
            d.name,
            d.diff.added.len(),
            d.diff.removed.len(),
            d.diff.edited.len()
        ));
    }
    if ui.small_button("Check leakage across splits").on_hover_text(Command::CheckLeakage.description()).clicked() {
        queue.push(Command::CheckLeakage);
    }
}
