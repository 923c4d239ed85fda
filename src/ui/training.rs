//! The Training workspace: the config form (presets, validation), Start / Pause / Stop / Resume with
//! ETA and memory, the run list (overlay, baseline, resume), the live curves, and the latest
//! rollouts, each of which opens in the Review workspace next to its image.

use eframe::egui;

use super::{curves, theme};
use crate::app::Command;
use crate::app::state::AppState;
use crate::train::grpo::config::GrpoConfig;
use crate::train::grpo::loss::LossType;
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
            form(ui, state);
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

fn form(ui: &mut egui::Ui, state: &mut AppState) {
    let running = state.training.active.is_some();
    let toy = state.toy_model_warning(&state.training.form.model);
    let t = &mut state.training;
    let (f, backend, autotune) = (&mut t.form, &mut t.backend, &mut t.autotune);
    ui.add_enabled_ui(!running, |ui| {
        egui::Grid::new("grpo_form").num_columns(2).spacing([8.0, 4.0]).show(ui, |ui| {
            ui.label("Preset");
            let mut preset = f.preset.clone();
            egui::ComboBox::from_id_salt("preset").selected_text(&preset).show_ui(ui, |ui| {
                for p in GrpoConfig::PRESETS {
                    ui.selectable_value(&mut preset, p.to_string(), p);
                }
            });
            if preset != f.preset
                && let Some(p) = GrpoConfig::preset(&preset)
            {
                *f = p;
            }
            ui.end_row();
            ui.label("Model");
            ui.text_edit_singleline(&mut f.model)
                .on_hover_text("A checkpoint folder, or `sample` for the built-in medvlm-tiny");
            ui.end_row();
            if let Some(w) = toy {
                ui.label("");
                ui.add(egui::Label::new(egui::RichText::new(w).color(ui.visuals().warn_fg_color)).wrap());
                ui.end_row();
            }
            ui.label("Prompt template");
            egui::ComboBox::from_id_salt("template").selected_text(&f.template).show_ui(ui, |ui| {
                for t in crate::domain::prompt::PromptTemplate::built_in() {
                    ui.selectable_value(&mut f.template, t.name().to_string(), t.name());
                }
            });
            ui.end_row();
            let num = |ui: &mut egui::Ui, label: &str, v: &mut usize, range: std::ops::RangeInclusive<usize>| {
                ui.label(label);
                ui.add(egui::DragValue::new(v).range(range));
                ui.end_row();
            };
            num(ui, "Steps", &mut f.steps, 1..=100_000);
            num(ui, "Prompts / step", &mut f.prompts_per_step, 1..=1024);
            num(ui, "Generations G", &mut f.num_generations, 1..=64);
            num(ui, "Max prompt tokens", &mut f.max_prompt_length, 1..=131_072);
            num(ui, "Max completion tokens", &mut f.max_completion_length, 1..=8192);
            image_size_settings(ui, f);
            num(ui, "Save every N steps", &mut f.save_steps, 1..=100_000);
            ui.label("Learning rate");
            ui.add(
                egui::DragValue::new(&mut f.learning_rate)
                    .speed(1e-6)
                    .range(1e-9..=1.0)
                    .custom_formatter(|v, _| format!("{v:.1e}")),
            );
            ui.end_row();
            ui.label("KL beta");
            ui.add(egui::DragValue::new(&mut f.beta).speed(0.001).range(0.0..=10.0));
            ui.end_row();
            ui.label("Temperature");
            ui.add(egui::DragValue::new(&mut f.temperature).speed(0.01).range(0.01..=5.0));
            ui.end_row();
            ui.label("Loss");
            egui::ComboBox::from_id_salt("loss").selected_text(format!("{:?}", f.loss_type)).show_ui(ui, |ui| {
                for l in [
                    LossType::Grpo,
                    LossType::Bnpo,
                    LossType::DrGrpo,
                    LossType::Dapo,
                    LossType::Cispo,
                    LossType::VerlTokenMean,
                ] {
                    ui.selectable_value(&mut f.loss_type, l, format!("{l:?}"));
                }
            });
            ui.end_row();
            ui.label("Dynamic sampling");
            ui.horizontal(|ui| {
                ui.checkbox(&mut f.dynamic_sampling, "drop all-equal groups").on_hover_text(
                    "DAPO / verl filter_groups: groups whose rewards are all equal teach nothing; roll out more prompts until the batch is full",
                );
                if f.dynamic_sampling {
                    ui.add(egui::DragValue::new(&mut f.max_sampling_rounds).range(1..=100).suffix(" rounds at most"));
                }
            });
            ui.end_row();
            ui.label("Seed");
            ui.add(egui::DragValue::new(&mut f.seed));
            ui.end_row();
            lora_settings(ui, f);
            compute_settings(ui, backend, autotune);
        });
    });
    memory_plan(ui, &t.plan);
    if t.autotune != t.autotune_in_force {
        ui.weak(format!(
            "Autotune {} takes effect at the next start ({} now)",
            t.autotune.name(),
            t.autotune_in_force.name()
        ));
    }
}

/// `max_pixels` / `min_pixels` (0: the model's) and skipping long prompts: rows of the form's grid.
fn image_size_settings(ui: &mut egui::Ui, f: &mut GrpoConfig) {
    let pixels = |v: usize| if v == 0 { "model's".to_string() } else { crate::train::grpo::preflight::group(v) };
    let rows: [(&str, &str, &mut usize); 2] = [
        ("Max pixels", "Largest image area after resizing; every 28×28 pixels are one image token", &mut f.max_pixels),
        ("Min pixels", "Smallest image area after resizing", &mut f.min_pixels),
    ];
    for (label, hover, value) in rows {
        ui.label(label).on_hover_text(hover);
        ui.add(
            egui::DragValue::new(value)
                .speed(784.0)
                .range(0..=50_000_000)
                .custom_formatter(move |v, _| pixels(v as usize)),
        );
        ui.end_row();
    }
    ui.label("Long prompts");
    ui.checkbox(&mut f.skip_long_prompts, "skip them")
        .on_hover_text("Leave out items whose prompt exceeds the max prompt tokens (named in the run's warnings) instead of refusing the run");
    ui.end_row();
}

/// LoRA (rank, alpha, vision tower) and the memory settings: rows of the form's grid.
fn lora_settings(ui: &mut egui::Ui, f: &mut GrpoConfig) {
    ui.label("LoRA");
    let mut on = f.lora.is_some();
    ui.checkbox(&mut on, "adapters on a frozen base")
        .on_hover_text("PEFT-compatible LoRA on q/k/v/o and the MLP; the KL reference is the base with adapters off");
    ui.end_row();
    if on != f.lora.is_some() {
        f.lora = on.then(crate::model::lora::LoraSettings::default);
    }
    if let Some(l) = &mut f.lora {
        ui.label("  rank / alpha");
        ui.horizontal(|ui| {
            ui.add(egui::DragValue::new(&mut l.rank).range(1..=1024));
            ui.add(egui::DragValue::new(&mut l.alpha).speed(1.0).range(0.1..=4096.0));
        });
        ui.end_row();
        ui.label("  vision tower");
        ui.checkbox(&mut l.train_vision, "adapt it too");
        ui.end_row();
        ui.label("  QLoRA base");
        egui::ComboBox::from_id_salt("qlora-base")
            .selected_text(l.quantize_base.map_or("none", |q| q.name()))
            .show_ui(ui, |ui| {
                use crate::model::precision::BaseQuant;
                for q in [None, Some(BaseQuant::Q8), Some(BaseQuant::Q4)] {
                    ui.selectable_value(&mut l.quantize_base, q, q.map_or("none", |q| q.name()));
                }
            })
            .response
            .on_hover_text("The decoder's base weights quantized to 8 or 4 bits, dequantized at each product");
        ui.end_row();
    }
    ui.label("Weights dtype");
    egui::ComboBox::from_id_salt("weights-dtype").selected_text(f.dtype.name()).show_ui(ui, |ui| {
        for p in crate::model::precision::Precision::ALL {
            ui.selectable_value(&mut f.dtype, p, p.name());
        }
    });
    ui.end_row();
    if f.dtype != crate::model::precision::Precision::F32 && f.lora.is_none() {
        ui.label("");
        ui.colored_label(ui.visuals().warn_fg_color, "half precision trains LoRA: turn LoRA on");
        ui.end_row();
    }
    ui.label("Gradient checkpointing");
    ui.checkbox(&mut f.gradient_checkpointing, "per decoder layer").on_hover_text(
        "Keep only each decoder layer's input and recompute the layer in the backward pass: less activation \
         memory in the training pass, about one more forward pass of compute",
    );
    ui.end_row();
    ui.label("Memory limit (GB)");
    ui.add(egui::DragValue::new(&mut f.memory_limit_gb).speed(0.5).range(0.0..=4096.0))
        .on_hover_text("0: the host's available memory on the CPU. Set your GPU's size: wgpu does not report it");
    ui.end_row();
}

/// The form's memory plan next to the memory available, its table on hover.
fn memory_plan(ui: &mut egui::Ui, plan: &crate::app::plan::FormPlan) {
    use crate::train::memory::gb;
    if let Some(Ok(p)) = &plan.result {
        preflight_summary(ui, &p.preflight);
    }
    ui.horizontal_wrapped(|ui| {
        ui.label("Memory plan:");
        match &plan.result {
            Some(Ok(p)) => {
                let (text, color) = match p.limit {
                    Some(l) if p.needed <= l => {
                        (format!("{} of {} available — fits", gb(p.needed), gb(l)), ui.visuals().weak_text_color())
                    }
                    Some(l) => {
                        (format!("{} of {} available — does not fit", gb(p.needed), gb(l)), ui.visuals().error_fg_color)
                    }
                    None => {
                        (format!("{} (GPU size unknown: set a memory limit)", gb(p.needed)), ui.visuals().warn_fg_color)
                    }
                };
                ui.colored_label(color, text).on_hover_text(egui::RichText::new(p.plan.table()).monospace());
            }
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().warn_fg_color, "unavailable").on_hover_text(e);
            }
            None => {}
        }
        if plan.is_pending() {
            ui.spinner();
        }
    });
}

/// One line of the pre-flight check (the table on hover).
fn preflight_summary(ui: &mut egui::Ui, p: &crate::train::grpo::preflight::Preflight) {
    use crate::train::grpo::preflight::group;
    let lens: Vec<usize> = p.usable.iter().chain(&p.too_long).map(|s| s.prompt_len).collect();
    let range = match (lens.iter().min(), lens.iter().max()) {
        (Some(lo), Some(hi)) => format!(", prompts {}–{} tokens", group(*lo), group(*hi)),
        _ => String::new(),
    };
    let time = p.estimate.as_ref().map(|e| format!(", ≤ {:.1} s/step", e.seconds)).unwrap_or_default();
    let text = format!("Pre-flight: {} of {} items trainable{range}{time}", group(p.usable.len()), group(p.considered));
    let color = if p.blocker().is_some() { ui.visuals().error_fg_color } else { ui.visuals().weak_text_color() };
    ui.add(egui::Label::new(egui::RichText::new(text).color(color)).wrap())
        .on_hover_text(egui::RichText::new(p.table()).monospace());
}

/// Backend for the next run and the GPU autotune level (read once per process by the GPU runtime):
/// two rows of the form's grid.
fn compute_settings(
    ui: &mut egui::Ui,
    backend: &mut crate::model::device::BackendChoice,
    autotune: &mut crate::model::gpu::AutotuneLevel,
) {
    use crate::model::device::BackendChoice;
    use crate::model::gpu::AutotuneLevel;
    ui.label("Backend");
    let name = |b: BackendChoice| match b {
        BackendChoice::Auto => "auto (GPU if found)",
        BackendChoice::Wgpu => "wgpu",
        BackendChoice::Cpu => "CPU",
    };
    egui::ComboBox::from_id_salt("backend").selected_text(name(*backend)).show_ui(ui, |ui| {
        for b in [BackendChoice::Auto, BackendChoice::Wgpu, BackendChoice::Cpu] {
            ui.selectable_value(backend, b, name(b));
        }
    });
    ui.end_row();
    ui.label("GPU autotune");
    egui::ComboBox::from_id_salt("autotune")
        .selected_text(autotune.name())
        .show_ui(ui, |ui| {
            for l in AutotuneLevel::ALL {
                ui.selectable_value(autotune, l, l.name());
            }
        })
        .response
        .on_hover_text(
            "How hard new kernel shapes are tuned; results are cached on disk. Minimal: quickest first step",
        );
    ui.end_row();
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
