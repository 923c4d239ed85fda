//! The Training workspace: Start / Pause / Stop / Resume with ETA and memory, the custom rewards
//! and the run form ([`super::training_form`], presets and validation) beneath them, the run list
//! (overlay, baseline, resume), the live curves, and the latest rollouts, each of which opens in
//! the Review workspace next to its image.

use eframe::egui;

use super::{curves, theme};
use crate::app::Command;
use crate::app::state::AppState;
use crate::train::grpo::config::GrpoConfig;
use crate::train::grpo::preflight::Fix;

/// Draws the workspace.
pub fn show(ui: &mut egui::Ui, state: &mut AppState, queue: &mut Vec<Command>) {
    if state.project.is_none() {
        ui.heading("Training");
        ui.label("No project open.");
        return;
    }
    // The form never takes more than 55 % of the tile: the curves keep the rest.
    let max_side = (ui.available_width() * 0.55).max(260.0);
    egui::Panel::left("training_side").resizable(true).default_size(300.0).max_size(max_side).show(ui, |ui| {
        egui::ScrollArea::vertical().id_salt("training_form").show(ui, |ui| {
            controls(ui, state, queue);
            ui.separator();
            super::training_form::form(ui, state);
            ui.separator();
            run_list(ui, state, queue);
            ui.separator();
            checkpoint_table(ui, state, queue);
        });
    });
    egui::CentralPanel::default().show(ui, |ui| {
        curve_toolbar(ui, state, queue);
        let rollouts_h = if state.training.rollouts.is_empty() { 0.0 } else { 150.0 };
        egui::Panel::bottom("training_rollouts")
            .resizable(true)
            .default_size(rollouts_h)
            .show(ui, |ui| rollouts(ui, state, queue));
        // The curves fill what the rollouts leave (drawn in the whole rect, their scroll area
        // covered the rollouts and took their clicks).
        egui::CentralPanel::default().show(ui, |ui| curves::show(ui, &state.training, queue));
    });
}

/// Why the pre-flight check refuses the run, and one button per fix (applied to the form, which
/// starts a new check).
fn preflight_fixes(ui: &mut egui::Ui, why: &str, fixes: &[Fix], form: &mut GrpoConfig) {
    let tokens = theme::of(ui);
    ui.add(egui::Label::new(egui::RichText::new(format!("⚠ Pre-flight: {why}")).color(tokens.error)).wrap());
    ui.horizontal_wrapped(|ui| {
        ui.label("Fix:");
        for f in fixes {
            if ui.button(f.label()).clicked() {
                f.apply(form);
            }
        }
    });
}

fn controls(ui: &mut egui::Ui, state: &mut AppState, queue: &mut Vec<Command>) {
    let tokens = theme::of(ui);
    let t = &state.training;
    match &t.active {
        Some(a) => {
            let paused = a.control.pause.load(std::sync::atomic::Ordering::Relaxed);
            ui.heading(if paused { "Paused" } else { "Training" });
            if let Some((done, total)) = a.preparing {
                let frac = done as f32 / total.max(1) as f32;
                ui.add(egui::ProgressBar::new(frac).text(format!("Preparing GPU kernels {done}/{total}")))
                    .on_hover_text("Every shape of this run is compiled and tuned once, before the first step");
            } else {
                let frac = a.last_step as f32 / a.steps.max(1) as f32;
                let eta = t.eta_seconds().map(|s| format!(" · {:.0}s left", s)).unwrap_or_default();
                ui.add(egui::ProgressBar::new(frac).text(format!("step {}/{}{eta}", a.last_step, a.steps)));
            }
            device_panel(ui, state);
            ui.horizontal(|ui| {
                if paused {
                    if ui.button("▶ Continue").clicked() {
                        queue.push(Command::ContinueTraining);
                    }
                } else if ui.button("⏸ Pause").clicked() {
                    queue.push(Command::PauseTraining);
                }
                if ui.button("⏹ Stop").on_hover_text("Stop after this step; a checkpoint is written").clicked() {
                    queue.push(Command::StopTraining);
                }
            });
        }
        None => {
            ui.heading("New GRPO run");
            let ok = t.form.validate();
            // A custom reward's problem is shown on its row in the editor below (a line here would
            // come and go while it is typed, moving the field being edited).
            if let Err(e) = &ok
                && !e.field.starts_with("custom_rewards[")
            {
                ui.colored_label(tokens.error, format!("⚠ {e}"));
            }
            let blocked = t.plan.blocked(&t.form);
            ui.horizontal(|ui| {
                let start = ui.add_enabled(ok.is_ok() && blocked.is_none(), egui::Button::new("▶ Start"));
                let start = match (&ok, &blocked) {
                    (Err(e), _) => start.on_disabled_hover_text(format!("Fix this first: {e}")),
                    (_, Some((why, _))) => {
                        start.on_disabled_hover_text(format!("The pre-flight check refuses this run: {why}"))
                    }
                    _ => start.on_hover_text("Train on this project's split with these settings"),
                };
                if start.clicked() {
                    queue.push(Command::StartTraining);
                }
                if ui.button("Load config…").on_hover_text(Command::LoadTrainingConfig.description()).clicked() {
                    queue.push(Command::LoadTrainingConfig);
                }
            });
            super::custom_rewards::editor(ui, &mut state.training.form.custom_rewards, tokens.error);
            if let Some((why, fixes)) = blocked {
                preflight_fixes(ui, &why, &fixes, &mut state.training.form);
            }
        }
    }
}

/// The compute device of the live run: adapter and backend, GPU memory in use and at peak, kernel
/// preparation time beside the step time, host memory.
fn device_panel(ui: &mut egui::Ui, state: &AppState) {
    use crate::train::grpo::metrics::names;
    let t = &state.training;
    let Some(a) = &t.active else { return };
    if !a.device.is_empty() {
        ui.weak(&a.device);
    }
    let last = |name: &str| {
        a.run.and_then(|r| t.runs.get(&r)).and_then(|s| s.metrics.get(name)).and_then(|v| v.last()).map(|p| p.1)
    };
    egui::Grid::new("device_stats").num_columns(2).spacing([8.0, 2.0]).show(ui, |ui| {
        if let Some(inuse) = last(names::GPU_MEMORY) {
            ui.weak("GPU memory");
            let peak = last(names::GPU_MEMORY_PEAK).unwrap_or(inuse);
            ui.weak(format!(
                "{} in use · {} reserved at peak",
                crate::util::human_bytes(inuse as u64),
                crate::util::human_bytes(peak as u64)
            ));
            ui.end_row();
        }
        if let Some(p) = &a.prepared {
            ui.weak("Kernel preparation");
            ui.weak(format!("{:.1}s ({} compiled, {} tuned)", p.seconds, p.counts.compiled, p.counts.autotuned))
                .on_hover_text("Once per run, before the first step; shapes are bucketed so steps compile nothing new");
            ui.end_row();
        }
        if let Some(st) = last(names::STEP_TIME) {
            ui.weak("Step time");
            let new_kernels = last(names::KERNELS_COMPILED).unwrap_or(0.0) + last(names::AUTOTUNE_RUNS).unwrap_or(0.0);
            let extra = if new_kernels > 0.0 { format!(" (+{new_kernels:.0} kernels)") } else { String::new() };
            ui.weak(format!("{st:.2}s{extra}"));
            ui.end_row();
        }
        if let Some(m) = crate::app::training::resident_memory() {
            ui.weak("Host memory");
            ui.weak(crate::util::human_bytes(m));
            ui.end_row();
        }
    });
}

fn run_list(ui: &mut egui::Ui, state: &mut AppState, queue: &mut Vec<Command>) {
    let t = &mut state.training;
    ui.heading("Runs");
    if t.runs.is_empty() {
        ui.weak("No runs in this project yet.");
    }
    let active = t.active.as_ref().and_then(|a| a.run);
    let ids: Vec<i64> = t.runs.keys().rev().copied().collect();
    for id in ids {
        let Some(r) = t.runs.get(&id) else { continue };
        let (name, status, last) = (r.name.clone(), r.status, r.steps.last().map_or(0, |s| s.step));
        let message = r.message.clone().filter(|_| status == crate::store::RunStatus::Failed);
        ui.horizontal(|ui| {
            let mut on = t.visible.contains(&id);
            if ui.checkbox(&mut on, "").on_hover_text("Show on the charts").changed() {
                if on {
                    t.visible.insert(id);
                } else {
                    t.visible.remove(&id);
                }
            }
            let base = t.baseline == Some(id);
            if ui.selectable_label(base, "B").on_hover_text("Baseline (dashed)").clicked() {
                t.baseline = if base { None } else { Some(id) };
            }
            ui.label(format!("#{id} {name}")).on_hover_text(format!("{status}, {last} steps"));
            ui.weak(format!("{status} · {last}"));
            if active.is_none() && status.is_resumable() && ui.small_button("Resume").clicked() {
                queue.push(Command::ResumeTrainingRun(id));
            }
            if active.is_none()
                && ui.small_button("Use settings").on_hover_text("Fill the form with this run's settings").clicked()
            {
                queue.push(Command::UseRunSettings(id));
            }
        });
        // A failed run says why, in the list (the full text on hover).
        if let Some(m) = message {
            let short: String = m.chars().take(160).collect();
            let more = if m.chars().count() > 160 { "…" } else { "" };
            ui.colored_label(ui.visuals().warn_fg_color, format!("    ⚠ {short}{more}")).on_hover_text(m);
        }
    }
}

fn curve_toolbar(ui: &mut egui::Ui, state: &mut AppState, queue: &mut Vec<Command>) {
    let c = &mut state.training.curves;
    ui.horizontal_wrapped(|ui| {
        ui.label("Smoothing");
        ui.add(egui::Slider::new(&mut c.smoothing, 0.0..=0.99).fixed_decimals(2))
            .on_hover_text("Debiased EMA; the raw series is drawn faint");
        ui.separator();
        ui.label("x");
        for a in [crate::metrics::XAxis::Step, crate::metrics::XAxis::Samples, crate::metrics::XAxis::WallTime] {
            ui.selectable_value(&mut c.x_axis, a, a.label());
        }
        ui.separator();
        ui.checkbox(&mut c.log_y, "log y");
        if ui.button("Export CSV…").on_hover_text("Every series shown, raw and smoothed").clicked() {
            queue.push(Command::ExportCurves);
        }
    });
}

fn rollouts(ui: &mut egui::Ui, state: &mut AppState, queue: &mut Vec<Command>) {
    let tokens = theme::of(ui);
    ui.label(egui::RichText::new("Latest rollouts").strong());
    egui::ScrollArea::vertical().id_salt("rollouts").show(ui, |ui| {
        for (run, step, uid, r) in state.training.rollouts.iter().take(60) {
            ui.horizontal(|ui| {
                let color = if r.reward >= 1.5 {
                    tokens.ok
                } else if r.reward >= 1.0 {
                    tokens.weak
                } else {
                    tokens.error
                };
                ui.colored_label(color, format!("{:.2}", r.reward));
                ui.weak(format!("#{run} s{step} A {:+.2}", r.advantage));
                let text: String = r.completion.chars().take(120).collect();
                if ui.link(format!("{uid}: {text}")).on_hover_text(&r.completion).clicked() {
                    let sample = (r.group_index, r.sample_index);
                    let open =
                        crate::app::review::ReviewAction::Open { step: *step as i64, item_id: r.item_id, sample };
                    queue.push(Command::Review(open));
                }
            });
        }
    });
}

/// Greedy test accuracy of the newest run's base model and checkpoints, per modality and in-domain
/// vs out-of-domain (MedVLM-R1's table, per checkpoint).
fn checkpoint_table(ui: &mut egui::Ui, state: &mut AppState, queue: &mut Vec<Command>) {
    let Some(p) = &state.project else { return };
    let t = &mut state.training;
    let Some(&newest) = t.runs.keys().next_back() else { return };
    // Any run's checkpoints, the newest run's until another is picked.
    let mut run = t.checkpoint_run.filter(|r| t.runs.contains_key(r)).unwrap_or(newest);
    ui.horizontal(|ui| {
        ui.heading("Checkpoints of");
        let name = |id: i64| t.runs.get(&id).map_or(format!("#{id}"), |r| format!("#{id} {}", r.name));
        egui::ComboBox::from_id_salt("checkpoint_run").selected_text(name(run)).show_ui(ui, |ui| {
            for &id in t.runs.keys().rev() {
                ui.selectable_value(&mut run, id, name(id));
            }
        });
    });
    t.checkpoint_run = Some(run);
    let mut rows: Vec<_> = p.scores.iter().filter(|s| s.run == run).collect();
    rows.sort_by_key(|s| s.step);
    if ui
        .button(format!("Evaluate run #{run} on test"))
        .on_hover_text("Greedy, MedVLM-R1 evaluation prompt and strict parser; the base model and every checkpoint")
        .clicked()
    {
        queue.push(Command::CompareCheckpoints(run));
    }
    if rows.is_empty() {
        ui.weak("No checkpoint evaluated yet.");
        return;
    }
    let mods: Vec<String> = rows
        .iter()
        .flat_map(|s| s.by_modality.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    egui::Grid::new("ckpt_scores").striped(true).num_columns(4 + mods.len()).show(ui, |ui| {
        ui.strong("model");
        ui.strong("all");
        for m in &mods {
            ui.strong(m);
        }
        ui.strong("in-dom.");
        ui.strong("OOD");
        ui.end_row();
        for s in rows {
            ui.label(&s.label);
            ui.label(format!("{:.1}", s.all));
            for m in &mods {
                ui.label(s.by_modality.get(m).map_or("–".into(), |v| format!("{v:.0}")));
            }
            ui.label(format!("{:.1}", s.in_domain));
            ui.label(format!("{:.1}", s.out_of_domain));
            ui.end_row();
        }
    });
}
